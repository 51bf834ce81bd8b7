// The words differential traces are written in, and how two traces are compared: the
// kernel's and uepoll's traces of one scenario must be equal line for line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace uep::test {

// "0x1f".
std::string Hex(uint64_t v);
// "EAGAIN"; "errno 4095" for a number without a name.
std::string ErrnoName(int err);
// "IN|OUT|ET": epoll event and flag bits, any others in hex; "0" for none.
std::string EpollMaskName(uint32_t mask);
// "IN|RDNORM|NVAL": poll(2) bits, any others in hex; "0" for none.
std::string PollMaskName(unsigned mask);

// Both traces in two columns, the lines that differ marked "!".
std::string SideBySide(const std::vector<std::string>& kernel,
                       const std::vector<std::string>& uepoll);

// Fails the test, showing both traces side by side, unless they are equal.
// UEPOLL_DIFF_VERBOSE=1 prints the traces of passing scenarios too.
void ExpectSameTraces(const std::vector<std::string>& kernel,
                      const std::vector<std::string>& uepoll);

}  // namespace uep::test
