// The CUDA prune-range kernel's work for one batch item, as barrier-separated
// phases run by every thread of its block. Plain host/device C++ on top of
// prune_ranges_math.h, so tests/cuda_emulation can run the very same phases
// on the CPU (threads one after another, a barrier between phases) and
// compare with the CPU kernel's serial sweep.
//
// The CPU settles an item's window starts in one backward sweep holding two
// running minima. A block does each suffix minimum in parallel instead: each
// thread takes a contiguous chunk of frames, the chunks' minima are scanned
// across the block (Hillis-Steele over `threads` values, ping-ponging
// between two buffers, one barrier per doubling), and each thread then
// sweeps its chunk starting from the minimum of the chunks after it.
// Integer minima are exact, so the result equals the serial sweep's.
#pragma once

#include "prune_ranges/prune_ranges_math.h"

namespace rnnt {

template <typename scalar_t>
struct PruneBlock {
  const scalar_t* px;  // the item's px_grad [S][px_cols]
  int64_t px_cols;     // T+1 (regular) or T
  const scalar_t* py;  // the item's py_grad [S+1][T]
  int64_t* ranges;     // the item's output [T][R]; column 0 holds the starts
  int64_t* scan;       // [2][threads] scratch (shared memory on the GPU)
  PruneDims d;
  SettleParams p;
  int threads;

  RNNT_HOST_DEVICE int scan_steps() const {
    int steps = 0;
    while ((1 << steps) < threads) ++steps;
    return steps;
  }
  RNNT_HOST_DEVICE int phases() const { return 2 * scan_steps() + 6; }

  // Phase `phase` of thread `tid`; the caller puts a barrier after each.
  RNNT_HOST_DEVICE void run(int phase, int tid) const {
    const int L = scan_steps();
    if (phase == 0) return choose_starts(tid);
    phase -= 1;
    if (phase <= L + 1) return suffix_min_phase(phase, tid, /*second=*/false);
    phase -= L + 2;
    if (phase <= L + 1) return suffix_min_phase(phase, tid, /*second=*/true);
    fill(tid);
  }

 private:
  RNNT_HOST_DEVICE int64_t& start(int64_t t) const { return ranges[t * d.R]; }

  RNNT_HOST_DEVICE int64_t chunk() const { return (d.T + threads - 1) / threads; }
  RNNT_HOST_DEVICE int64_t chunk_begin(int tid) const {
    const int64_t b = tid * chunk();
    return b < d.T ? b : d.T;
  }
  RNNT_HOST_DEVICE int64_t chunk_end(int tid) const { return chunk_begin(tid + 1); }

  // Frames tid, tid + threads, ...: best window, then step 1 of the
  // settling (coalesced: neighbouring threads read neighbouring frames).
  RNNT_HOST_DEVICE void choose_starts(int tid) const {
    for (int64_t t = tid; t < d.T; t += threads) {
      const int64_t best = best_window_start<scalar_t, double>(px + t, px_cols, py + t, d.T, d);
      start(t) = chosen_start(best, t, p);
    }
  }

  // One suffix minimum over the column of starts, in L + 2 phases: the
  // chunk's minimum (0), L scan steps (1..L), the chunk's sweep (L + 1).
  // The first turns chosen starts into slacks ramp - lower; the second
  // turns slacks into settled starts.
  RNNT_HOST_DEVICE void suffix_min_phase(int phase, int tid, bool second) const {
    const int L = scan_steps();
    if (phase == 0) {
      int64_t m = kNoMin;
      for (int64_t t = chunk_begin(tid); t < chunk_end(tid); ++t) m = min_of(m, start(t));
      scan[tid] = m;
    } else if (phase <= L) {
      // Step k = phase - 1: buffer k % 2 holds the minimum over chunks
      // [j, j + 2^k); buffer (k + 1) % 2 gets [j, j + 2^(k+1)).
      const int k = phase - 1;
      const int64_t* src = scan + (k % 2) * threads;
      int64_t* dst = scan + ((k + 1) % 2) * threads;
      const int other = tid + (1 << k);
      dst[tid] = other < threads ? min_of(src[tid], src[other]) : src[tid];
    } else {
      const int64_t* mins = scan + (L % 2) * threads;  // over chunks [j, threads)
      int64_t running = tid + 1 < threads ? mins[tid + 1] : kNoMin;
      for (int64_t t = chunk_end(tid) - 1; t >= chunk_begin(tid); --t) {
        running = min_of(running, start(t));
        start(t) = second ? settled_start(t, running, p) : slack_of(t, running, p);
      }
    }
  }

  // ranges[t][r] = start(t) + r.
  RNNT_HOST_DEVICE void fill(int tid) const {
    for (int64_t i = tid; i < d.T * d.R; i += threads) {
      const int64_t r = i % d.R;
      if (r != 0) ranges[i] = ranges[i - r] + r;
    }
  }
};

}  // namespace rnnt
