// The iov_iter of a pipe or socket read or write.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace uep {

// An iov_iter over the caller's segments. A segment with a NULL base is the one fault
// user space can see coming: a copy stops there, as copy_from_user stops at a bad page.
class IovCursor {
 public:
  IovCursor(const iovec* iov, int iovcnt) : iov_(iov), iovcnt_(iovcnt) {
    for (int i = 0; i < iovcnt; ++i) count_ += iov[i].iov_len;
  }
  // iov_iter_count(): bytes not yet copied.
  [[nodiscard]] size_t Count() const { return count_; }

  // copy_page_from_iter(): up to `n` bytes into `dst`; fewer on a fault.
  size_t CopyIn(char* dst, size_t n) { return Copy(dst, n, /*to_user=*/false); }
  // copy_page_to_iter(): up to `n` bytes from `src`; fewer on a fault.
  size_t CopyOut(const char* src, size_t n) { return Copy(const_cast<char*>(src), n, true); }

 private:
  size_t Copy(char* kbuf, size_t n, bool to_user) {
    size_t done = 0;
    while (done < n && idx_ < iovcnt_) {
      const iovec& seg = iov_[idx_];
      const size_t left = seg.iov_len - off_;
      if (left == 0) {
        ++idx_;
        off_ = 0;
        continue;
      }
      if (seg.iov_base == nullptr) break;  // EFAULT
      const size_t chunk = std::min(left, n - done);
      char* ubuf = static_cast<char*>(seg.iov_base) + off_;
      if (to_user) {
        std::memcpy(ubuf, kbuf + done, chunk);
      } else {
        std::memcpy(kbuf + done, ubuf, chunk);
      }
      done += chunk;
      off_ += chunk;
      count_ -= chunk;
    }
    return done;
  }

  const iovec* iov_;
  int iovcnt_;
  int idx_ = 0;
  size_t off_ = 0;
  size_t count_ = 0;
};

}  // namespace uep
