// compat.h in a C++ translation unit: libc-style epoll + eventfd calls, served by uepoll,
// next to the standard library (streams, threads, containers) included after the header.
// A class of the program's own with read/write/close members is renamed consistently by
// the macros and keeps working.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

int failures = 0;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::cerr << "check failed: " << what << " (errno " << errno << ")\n";
    ++failures;
  }
}

// Methods spelt like libc calls: renamed to uep_* with the rest of the file.
class Counter {
 public:
  Counter() : fd_(eventfd(0, EFD_NONBLOCK)) {}
  ~Counter() { close(); }
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;
  bool write(uint64_t v) { return eventfd_write(fd_, v) == 0; }
  uint64_t read() {
    eventfd_t v = 0;
    return eventfd_read(fd_, &v) == 0 ? v : 0;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

int main() {
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  Check(ep >= 0, "epoll_create1");
  Check(uep_is_uepoll_fd(ep) == 1, "the epoll instance is uepoll's");

  Counter counter;
  Check(counter.fd() >= uep_fd_base(), "the eventfd is uepoll's");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = counter.fd();
  Check(epoll_ctl(ep, EPOLL_CTL_ADD, counter.fd(), &ev) == 0, "epoll_ctl ADD");

  constexpr int kWrites = 1000;
  std::thread producer([&] {
    for (int i = 0; i < kWrites; ++i) counter.write(1);
  });
  uint64_t total = 0;
  std::vector<epoll_event> events(4);
  while (total < kWrites) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 5000);
    Check(n == 1, "epoll_wait returns the eventfd");
    if (n != 1) break;
    total += counter.read();
  }
  producer.join();

  std::ostringstream line;
  line << "C++: " << kWrites << " writes from a std::thread, epoll_wait + read -> " << total;
  std::cout << line.str() << '\n';
  Check(total == kWrites, "every write arrived");

  errno = 0;
  Check(epoll_wait(ep, events.data(), 0, 0) == -1 && errno == EINVAL, "maxevents 0 is EINVAL");
  counter.close();
  Check(close(ep) == 0, "close");
  Check(close(ep) == -1 && errno == EBADF, "second close is EBADF");

  if (failures != 0) return 1;
  std::cout << "all checks passed" << std::endl;
  return 0;
}
