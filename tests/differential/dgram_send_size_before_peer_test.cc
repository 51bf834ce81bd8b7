// A datagram send checks its size (EMSGSIZE) before it looks for the peer (ENOTCONN), as
// newer kernels' unix_dgram_sendmsg() does (6.1 looks for the peer first: the kernel profile).
// Found by the differential fuzzer: uepoll said ENOTCONN for an oversized datagram.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <vector>

#include "support/sock_timer_diff.h"

namespace uep::test {
namespace {

TEST(DgramSendSizeBeforePeer, OversizedAfterPeerClosed) {
  RunOnBoth(KernelBehaviour::kUnixDgramSizeCheckedBeforePeer, [](Trace& t) {
    const Backend& a = t.backend();
    static const std::vector<char> big(262144, 'x');
    for (int type : {SOCK_DGRAM, SOCK_SEQPACKET}) {
      int sv[2];
      t.Rec("socketpair", a.socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, sv));
      t.Rec("send big, connected", a.send(sv[0], big.data(), big.size(), 0));
      t.Rec("close peer", a.close(sv[1]));
      t.Rec("send 1", a.send(sv[0], "x", 1, MSG_NOSIGNAL));
      t.Rec("send big", a.send(sv[0], big.data(), big.size(), MSG_NOSIGNAL));
      t.Rec("send 1 again", a.send(sv[0], "x", 1, MSG_NOSIGNAL));
      t.Rec("send NULL", a.send(sv[0], nullptr, 1, MSG_NOSIGNAL));
      t.Rec("close", a.close(sv[0]));
    }
  });
}

}  // namespace
}  // namespace uep::test
