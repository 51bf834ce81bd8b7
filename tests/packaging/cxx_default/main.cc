// Built without any -std flag of its own (tests/packaging/run_consumer.cmake).
#include <uepoll/uepoll.hpp>

#include <cstdio>

int main() {
  uep::EventFd ev = uep::EventFd::create_or_throw(0, uep::EventFdFlags::nonblock);
  ev.write(2).value();
  std::printf("consumer (C++ at the compiler's default standard, raised to %ld): read %llu\n",
              static_cast<long>(__cplusplus), static_cast<unsigned long long>(ev.read().value()));
  return ev.close() ? 0 : 1;
}
