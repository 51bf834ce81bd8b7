#include "support/trace_text.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace uep::test {
namespace {

struct BitName {
  unsigned bit;
  const char* name;
};

template <size_t N>
std::string MaskText(unsigned mask, const BitName (&bits)[N]) {
  std::string out;
  for (const BitName& b : bits) {
    if ((mask & b.bit) == 0) continue;
    out += (out.empty() ? "" : "|") + std::string(b.name);
    mask &= ~b.bit;
  }
  if (mask != 0) out += (out.empty() ? "" : "|") + Hex(mask);
  return out.empty() ? "0" : out;
}

}  // namespace

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "errno " + std::to_string(err);
}

std::string EpollMaskName(uint32_t mask) {
  static constexpr BitName kBits[] = {
      {EPOLLIN, "IN"},         {EPOLLPRI, "PRI"},         {EPOLLOUT, "OUT"},
      {EPOLLERR, "ERR"},       {EPOLLHUP, "HUP"},         {EPOLLRDNORM, "RDNORM"},
      {EPOLLRDBAND, "RDBAND"}, {EPOLLWRNORM, "WRNORM"},   {EPOLLWRBAND, "WRBAND"},
      {EPOLLMSG, "MSG"},       {EPOLLRDHUP, "RDHUP"},     {EPOLLEXCLUSIVE, "EXCLUSIVE"},
      {EPOLLWAKEUP, "WAKEUP"}, {EPOLLONESHOT, "ONESHOT"}, {EPOLLET, "ET"},
  };
  return MaskText(mask, kBits);
}

std::string PollMaskName(unsigned mask) {
  static constexpr BitName kBits[] = {
      {POLLIN, "IN"},         {POLLPRI, "PRI"},       {POLLOUT, "OUT"},
      {POLLERR, "ERR"},       {POLLHUP, "HUP"},       {POLLNVAL, "NVAL"},
      {POLLRDNORM, "RDNORM"}, {POLLRDBAND, "RDBAND"}, {POLLWRNORM, "WRNORM"},
      {POLLWRBAND, "WRBAND"}, {POLLMSG, "MSG"},       {POLLRDHUP, "RDHUP"},
  };
  return MaskText(mask, kBits);
}

std::string SideBySide(const std::vector<std::string>& kernel,
                       const std::vector<std::string>& uepoll) {
  size_t width = 6;
  for (const std::string& line : kernel) width = std::max(width, line.size());
  std::ostringstream out;
  out << "  " << std::string("kernel").append(width - 6, ' ') << " | uepoll\n";
  for (size_t i = 0; i < std::max(kernel.size(), uepoll.size()); ++i) {
    const std::string k = i < kernel.size() ? kernel[i] : "";
    const std::string u = i < uepoll.size() ? uepoll[i] : "";
    out << (k == u ? "  " : "! ") << k << std::string(width - k.size(), ' ') << " | "
        << (k == u ? "" : u) << "\n";
  }
  return out.str();
}

void ExpectSameTraces(const std::vector<std::string>& kernel,
                      const std::vector<std::string>& uepoll) {
  if (kernel != uepoll) {
    ADD_FAILURE() << "uepoll differs from the kernel (lines marked !):\n"
                  << SideBySide(kernel, uepoll);
  } else if (const char* verbose = std::getenv("UEPOLL_DIFF_VERBOSE");  // NOLINT: no setenv
             verbose != nullptr && *verbose == '1') {
    std::printf("%s", SideBySide(kernel, uepoll).c_str());
  }
}

}  // namespace uep::test
