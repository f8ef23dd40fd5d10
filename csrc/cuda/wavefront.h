// One wavefront step of the lattice recursion, as run by one thread of the
// CUDA block that sweeps one batch item. Plain host/device C++ on top of the
// node functions of rnnt_math.h, so tests/cuda_emulation can run the very same
// steps on the CPU (threads emulated one after another, __syncthreads between
// steps) and check every table access.
//
// Step k handles the nodes with s + t = k. They depend only on diagonals k-1
// and k-2 (forward; k+1 and k+2 backward), so the nodes of one diagonal are
// independent: thread `tid` of `nthreads` takes rows lo+tid, lo+tid+nthreads,
// ... of the diagonal. p (or g) of the last three diagonals live in a ring of
// three rows (see DiagonalRing); the kernel synchronises once per step.
#pragma once

#include "recursion/rnnt_math.h"

namespace rnnt {

// p (or g) of the three most recent diagonals: node (s, t) lives at row
// s of slot (s + t) % 3. Step k writes slot k % 3 and reads the two others,
// so with one barrier per step no cell is overwritten while it may still be
// read: the slot written at step k was last read at step k - 1.
template <typename scalar_t>
struct DiagonalRing {
  scalar_t* data;  // [3][rows]
  int64_t rows;    // S + 1
  RNNT_HOST_DEVICE int64_t index(int64_t s, int64_t t) const {
    return static_cast<int64_t>(static_cast<uint32_t>(s + t) % 3u) * rows + s;
  }
  RNNT_HOST_DEVICE scalar_t get(int64_t s, int64_t t) const {
    return data[index(s, t)];
  }
  RNNT_HOST_DEVICE void set(int64_t s, int64_t t, scalar_t v) const {
    data[index(s, t)] = v;
  }
};

// How many diagonals ahead each thread loads the arcs (px and py, or
// backward their shares) of its first node: a load issued kLookahead steps before its use has
// that many steps, barriers included, to arrive, so the step's critical
// path is the node math and the ring in shared memory, not global-memory
// latency. The loads do not depend on the recursion's values.
constexpr int kLookahead = 4;

// The loaded inputs of a thread's first node on kLookahead consecutive
// diagonals: slot j holds diagonal `base + j` (forward; `base - j`
// backward). The kernels index it with unrolled constants (registers).
template <typename Item>
struct Lookahead {
  Item slot[kLookahead];
};

// One thread's view of the forward sweep over one batch item. `mine`, given
// to step(), holds the arcs of the thread's first node of the diagonal,
// loaded kLookahead steps earlier (first_arcs).
template <typename scalar_t>
struct ForwardSweep {
  const scalar_t* px;
  const scalar_t* py;
  scalar_t* p;      // row-major [S+1][T+1]: written inside the box only
  scalar_t* score;  // receives p[s_end, t_end]
  LatticeDims d;
  Box box;

  // Arcs of thread tid's first node on diagonal k (none if it has no node).
  RNNT_HOST_DEVICE NodeArcs<scalar_t> first_arcs(int64_t k, int tid) const {
    const int64_t s = diagonal_rows(box, k).lo + tid;
    if (k > last_diagonal(box) || s > diagonal_rows(box, k).hi) {
      return NodeArcs<scalar_t>{false, false, scalar_t(0), scalar_t(0)};
    }
    return forward_arcs(px, py, d, box, s, k - s);
  }

  template <typename Ring>
  RNNT_HOST_DEVICE void step(const Ring& ring, int64_t k, int tid,
                             int nthreads,
                             const NodeArcs<scalar_t>& mine) const {
    const DiagonalRows rows = diagonal_rows(box, k);
    for (int64_t s = rows.lo + tid; s <= rows.hi; s += nthreads) {
      const int64_t t = k - s;
      const NodeArcs<scalar_t> arcs =
          s == rows.lo + tid ? mine : forward_arcs(px, py, d, box, s, t);
      const scalar_t v = forward_node_from(arcs, ring, d, box, s, t);
      ring.set(s, t, v);
      p[s * d.p_cols() + t] = v;
      if (s == box.s_end && t == box.t_end) *score = v;
    }
  }
};

// One thread's view of the backward sweep (rnnt_math.h, backward_node_from;
// diagonals in decreasing order). First split(): the shares of the arcs
// entering every node of the box, written into px_grad/py_grad, then a
// barrier; each step then overwrites the shares of its nodes' leaving arcs
// with their gradients (a node's leaving arcs are read and written by the
// thread that owns the node only). `mine` as in ForwardSweep (first_arcs).
template <typename scalar_t>
struct BackwardSweep {
  const scalar_t* px;
  const scalar_t* py;
  const scalar_t* p;  // the forward table, row-major [S+1][T+1]
  scalar_t* px_grad;  // zero-filled by the caller; written inside the box
  scalar_t* py_grad;
  LatticeDims d;
  Box box;

  // Thread tid of nthreads splits the box's nodes tid, tid + nthreads, ...
  // (row-major): independent nodes, consecutive threads on consecutive t.
  RNNT_HOST_DEVICE void split(int tid, int nthreads) const {
    const int64_t cols = box.t_end - box.t_begin + 1;
    const int64_t nodes = (box.s_end - box.s_begin + 1) * cols;
    for (int64_t i = tid; i < nodes; i += nthreads) {
      split_node(px, py, p, px_grad, py_grad, d, box, box.s_begin + i / cols,
                 box.t_begin + i % cols);
    }
  }

  // Shares of the arcs leaving thread tid's first node on diagonal k.
  RNNT_HOST_DEVICE NodeArcs<scalar_t> first_arcs(int64_t k, int tid) const {
    const int64_t s = diagonal_rows(box, k).lo + tid;
    if (k < first_diagonal(box) || s > diagonal_rows(box, k).hi) {
      return NodeArcs<scalar_t>{false, false, scalar_t(0), scalar_t(0)};
    }
    return backward_arcs<scalar_t>(px_grad, py_grad, d, box, s, k - s);
  }

  template <typename Ring>
  RNNT_HOST_DEVICE void step(const Ring& ring, int64_t k, int tid,
                             int nthreads,
                             const NodeArcs<scalar_t>& mine) const {
    const DiagonalRows rows = diagonal_rows(box, k);
    for (int64_t s = rows.lo + tid; s <= rows.hi; s += nthreads) {
      const int64_t t = k - s;
      const NodeArcs<scalar_t> arcs =
          s == rows.lo + tid
              ? mine
              : backward_arcs<scalar_t>(px_grad, py_grad, d, box, s, t);
      backward_node_from(arcs, ring, px_grad, py_grad, d, box, s, t);
    }
  }
};

}  // namespace rnnt
