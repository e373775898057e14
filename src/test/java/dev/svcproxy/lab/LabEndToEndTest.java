package dev.svcproxy.lab;

/** The end-to-end suite with svcproxy in iptables mode. */
class LabEndToEndTest extends LabEndToEndSuite.IptablesMode {}
