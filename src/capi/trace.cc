// uep_trace_start(), uep_trace_stop(), uep_trace_dump() (include/uepoll/uepoll.h) over the
// core's trace ring (trace/record.h).
#include <cerrno>
#include <cstdio>

#include "trace/record.h"
#include "uepoll/uepoll.h"

extern "C" {

int uep_trace_start(size_t capacity) {
  const int r = uep::trace::Start(capacity);
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return 0;
}

int uep_trace_stop(void) { return uep::trace::Stop(); }

int uep_trace_dump(FILE* out) {
  if (out == nullptr) {
    errno = EINVAL;
    return -1;
  }
  const int r = uep::trace::Dump(out);
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return 0;
}

}  // extern "C"
