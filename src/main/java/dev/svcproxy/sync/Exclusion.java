package dev.svcproxy.sync;

import dev.svcproxy.model.ServicePortName;

/**
 * A service port left out of the kernel's rules because the kernel refused them.
 *
 * @param keptPrevious whether the node still has the rules the port had before
 */
public record Exclusion(ServicePortName service, String reason, boolean keptPrevious) {}
