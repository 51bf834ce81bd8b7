// Reads a fuzz input as a stream of small integers; past the end every read is 0, so any
// byte string decodes into a valid sequence of calls.
#pragma once

#include <cstddef>
#include <cstdint>

namespace uep::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}

  [[nodiscard]] bool Empty() const { return p_ == end_; }
  uint8_t U8() { return p_ == end_ ? 0 : *p_++; }
  uint16_t U16() { return static_cast<uint16_t>(U8() | U8() << 8); }
  uint32_t U32() { return U16() | static_cast<uint32_t>(U16()) << 16; }
  uint64_t U64() { return U32() | static_cast<uint64_t>(U32()) << 32; }
  // One of `n` choices.
  template <class T, size_t N>
  const T& Pick(const T (&table)[N]) {
    return table[U8() % N];
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace uep::fuzz
