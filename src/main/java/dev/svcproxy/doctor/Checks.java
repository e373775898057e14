package dev.svcproxy.doctor;

import dev.svcproxy.doctor.checks.IpvsCheck;
import dev.svcproxy.doctor.checks.KernelSettingsCheck;
import java.util.List;

/** Every check the doctor runs, in the order their findings are listed at equal severity. */
public final class Checks {
  private Checks() {}

  /** A fresh list of every check. */
  public static List<Check> all() {
    return List.of(new KernelSettingsCheck(), new IpvsCheck());
  }
}
