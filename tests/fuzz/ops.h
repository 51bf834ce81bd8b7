// The differential fuzzer's calls: an input is decoded into up to 256 of them (see ops.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace uep::fuzz {

// Fills the byte pattern writes send; once, before the first input.
void FillPattern();
// Decodes `data` into calls, runs each on the kernel and on uepoll, compares, and closes
// everything on both sides; aborts with a readable report on the first difference.
void RunInput(const uint8_t* data, size_t size);

}  // namespace uep::fuzz
