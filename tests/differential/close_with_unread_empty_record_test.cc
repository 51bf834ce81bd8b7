// Closing a socket whose receive queue holds unread data sets ECONNRESET on its peer
// (unix_release_sock); an empty SOCK_SEQPACKET record at the head does not count, because
// the kernel skips a zero-length first message (its CONFIG_AF_UNIX_OOB place-holder test).
// Found by the differential fuzzer: uepoll reported POLLERR and ECONNRESET for it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "support/sock_timer_diff.h"

namespace uep::test {
namespace {

// Sends `records` (a length per record) from a to b, closes b, shows a's state.
void SendThenClosePeer(Trace& t, int type, std::initializer_list<size_t> records) {
  const Backend& a = t.backend();
  int sv[2];
  t.Rec("socketpair", a.socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, sv));
  for (size_t len : records) t.Rec("write " + std::to_string(len), a.write(sv[0], "abcdefgh", len));
  t.Rec("close peer", a.close(sv[1]));
  t.Mask("after close", sv[0]);
  int err = -1;
  socklen_t len = sizeof err;
  t.Rec("getsockopt SO_ERROR", a.getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &err, &len));
  t.Note("SO_ERROR " + ErrnoName(err));
  t.Rec("close", a.close(sv[0]));
}

TEST(CloseWithUnreadEmptyRecord, SeqpacketEmptyRecordIsNoReset) {
  RunOnBoth([](Trace& t) { SendThenClosePeer(t, SOCK_SEQPACKET, {0}); });
}

TEST(CloseWithUnreadEmptyRecord, SeqpacketEmptyThenDataIsReset) {
  RunOnBoth([](Trace& t) { SendThenClosePeer(t, SOCK_SEQPACKET, {0, 3}); });
}

TEST(CloseWithUnreadEmptyRecord, SeqpacketDataIsReset) {
  RunOnBoth([](Trace& t) { SendThenClosePeer(t, SOCK_SEQPACKET, {3}); });
}

TEST(CloseWithUnreadEmptyRecord, StreamEmptyWriteIsNoReset) {
  RunOnBoth([](Trace& t) { SendThenClosePeer(t, SOCK_STREAM, {0}); });
}

TEST(CloseWithUnreadEmptyRecord, StreamDataIsReset) {
  RunOnBoth([](Trace& t) { SendThenClosePeer(t, SOCK_STREAM, {0, 5}); });
}

}  // namespace
}  // namespace uep::test
