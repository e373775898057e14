package dev.svcproxy.netfilter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * IpsetCodec.kernelForm against the host's ipset 7.17 (kernel 6.x) in a throw-away netns: each row
 * is an `ipset add` and the element `ipset save` printed for it.
 */
class IpsetKernelFormTest {

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "hash:ip,port,net | 1.2.3.4,tcp:80,10.0.0.1/32  | 1.2.3.4,tcp:80,10.0.0.1",
        "hash:ip,port,net | 1.2.3.4,tcp:80,10.0.0.5/24  | 1.2.3.4,tcp:80,10.0.0.0/24",
        "hash:ip,port,net | 1.2.3.4,6:81,10.1.0.0/16    | 1.2.3.4,tcp:81,10.1.0.0/16",
        "hash:ip,port,net | 1.2.3.4,TCP:82,10.2.0.0/16  | 1.2.3.4,tcp:82,10.2.0.0/16",
        "hash:ip,port,net | 1.2.3.4,udp:53,10.3.0.0/8   | 1.2.3.4,udp:53,10.0.0.0/8",
        "hash:ip,port,net | 1.2.3.4,80,10.4.0.0/16      | 1.2.3.4,tcp:80,10.4.0.0/16",
        "hash:ip,port,net | 1.2.3.4,sctp:90,10.5.0.0/16 | 1.2.3.4,sctp:90,10.5.0.0/16",
        "hash:ip,port,net | 1.2.3.4,tcp:80,10.7.0.0/1   | 1.2.3.4,tcp:80,0.0.0.0/1",
        "hash:ip,port,net | 1.2.3.4,tcp:http,10.6.0.0/16 | 1.2.3.4,tcp:http,10.6.0.0/16",
        "hash:net         | 10.0.0.1/32                 | 10.0.0.1",
        "hash:net         | 10.0.0.9/24                 | 10.0.0.0/24",
        "hash:ip,port,ip  | 1.2.3.4,tcp:80,1.2.3.4      | 1.2.3.4,tcp:80,1.2.3.4",
        "hash:ip,port     | 1.2.3.4,udp:53              | 1.2.3.4,udp:53",
        "bitmap:port      | 30000                       | 30000",
        "bitmap:port      | tcp:30001                   | 30001",
        "hash:ip          | 1.2.3.4/32                  | 1.2.3.4",
      })
  void kernelForm_asIpsetSavesIt(String type, String added, String saved) {
    // tcp:http is saved as tcp:80; this codec reads no service names, so it stays as given.
    assertThat(IpsetCodec.kernelForm(type, added)).isEqualTo(saved);
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {"hash:ip,port,net | 1.2.3.4,tcp:80,0.0.0.0/0", "hash:net | 0.0.0.0/0"})
  void kernelForm_slash0Net_refusedAsIpsetDoes(String type, String added) {
    // ipset: "The value of the CIDR parameter of the IP address is invalid".
    assertThatThrownBy(() -> IpsetCodec.kernelForm(type, added))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
