// Uses the installed C++ headers: uepoll.hpp, channel.hpp, file.hpp.
#include <uepoll/channel.hpp>
#include <uepoll/uepoll.hpp>

#include <array>
#include <cstdio>

int main() {
  auto ep = uep::Epoll::create_or_throw();
  auto ch = uep::Channel<int>::create(4).value();
  ep.add(ch, uep::Events::in, 1).value();
  ch.send(41).value();
  std::array<epoll_event, 4> events{};
  const std::size_t n = ep.wait(events, std::chrono::seconds(5)).value();
  const int v = ch.try_recv().value();
  std::printf("consumer: %zu event(s), received %d\n", n, v + 1);
  return n == 1 && v == 41 ? 0 : 1;
}
