// The fast path's run in C++ (pcalm/engine/stacked/, DESIGN section 3), layer by layer, each step on
// the layers the wavefront has reached (first_layers, from pcalm/engine/stacked/run.py).
//
// This file is the one deliberate second copy of the residual MLP's stacked formulas
// (pcalm/models/residual_stacked.py holds the first, beside the per-layer ones); it takes the
// schedule as data (the alphas) and decides none of it. tests/test_fast_path.py checks it against
// the reference loop to 1e-12 in float64.
//
// The eager path runs each step as whole-stack ops: a batched matmul over all layers, then
// elementwise passes over the whole (H, B, N) state (H = L-1 hidden layers), which is larger
// than the cache, so every pass streams it from memory. Here the batch's rows are split among
// the threads (rows never interact during inference), and each thread takes its rows of one
// layer at a time; step t of hidden layer i is
//
//   v = e_{i+1} W_{i+1}     (the read-out's branch for the last layer: (s_out/s_h) e_out W_L)
//   m = phi(z_{i-1}) W_i^T  (layer 0: none, its mu_1 is fixed)
//   then one pass over the layer's rows:
//     z_i += eta s_h v * phi'(z_i) - eta e_i + eta e_{i+1},  a_i = phi(z_i)     (the activity step)
//     eps_i = z_i - z_{i-1} - s_h m  (layer 0: z_0 - mu_1), the sums <eps_i, lam_i> and
//     <eps_i, eps_i> (in float64 across blocks of lines), e_i = lam_i + (rho + alpha_t) eps_i,
//     lam_i += alpha_t eps_i
//                                        (the prediction pass at the new z, and the dual step)
//
// and the last hidden layer's step is followed by the read-out, e_out = y - s_out a_{L-1} W_L^T
// and <e_out, e_out>. The run starts from the feedforward pass (z_0 = mu_1 = s_in x W_1^T,
// z_i = z_{i-1} + s_h phi(z_{i-1}) W_{i+1}^T, e = lam = 0), on each thread's rows too.
//
// Step t of layer i reads layers i-1, i and i+1 only: the old e_i, e_{i+1} and the new z_{i-1},
// a_{i-1}. So it may run once step t-1 of layers i and i+1 and step t of layer i-1 have, and each
// thread sweeps its rows of the layers `skew` steps at a time along a diagonal: at position j
// it runs step t0 + q of layer j - q for q = 0..skew-1, touching layers j-skew..j+1 only, so a
// layer's state and weights come into cache once per `skew` steps instead of once per step.
// Each thread sums its rows; the sums are added in thread order at the end. The results do not
// depend on `skew`, only on the number of threads (the order of those sums).
//
// The matmuls are BLAS calls, single-threaded inside the threads' own region: MKL's sgemm and
// dgemm, which torch's CPU library exports (pcalm/engine/stacked/fused.py builds this only where torch has MKL).
//
// backprop_steps (at the end) runs BP on the same stacked state: the feedforward pass and the backward
// signals, per thread's rows, for pcalm/engine/stacked/bp.py.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

extern "C" {
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c, const int* ldc);
void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k, const double* alpha,
            const double* a, const int* lda, const double* b, const int* ldb, const double* beta, double* c, const int* ldc);
int MKL_Set_Num_Threads_Local(int threads);
}

namespace {

constexpr int64_t kLinear = 0, kRelu = 1, kTanh = 2;
constexpr int64_t kAhead = 4;  // software prefetch distance in cache lines (layer_step)
constexpr int64_t kBlock = 8;  // lines per partial energy sum in scalar_t (layer_step)

// One cache line of scalar_t as one vector (a GCC/Clang vector extension; -march=native maps it
// onto the widest registers there are), and unaligned loads and stores of one element or a line.
template <typename scalar_t>
using Line __attribute__((vector_size(64))) = scalar_t;

template <typename T, typename scalar_t>
T load(const scalar_t* from) {
  T value;
  std::memcpy(&value, from, sizeof(T));
  return value;
}

template <typename T, typename scalar_t>
void store(scalar_t* to, const T& value) {
  std::memcpy(to, &value, sizeof(T));
}

// c (rows x cols) = alpha x (rows x inner) @ Y + beta c, all row-major, where Y is y (inner x cols)
// or, with y_transposed, y^T for y (cols x inner). BLAS is column-major, so this is
// c^T = alpha op(Y)^T x^T + beta c^T.
template <typename scalar_t>
void matmul_rows(const scalar_t* x, const scalar_t* y, bool y_transposed, scalar_t* c, int rows, int inner, int cols,
                 scalar_t alpha, scalar_t beta) {
  const char op_y = y_transposed ? 'T' : 'N', op_x = 'N';
  const int ld_y = y_transposed ? inner : cols;
  if constexpr (std::is_same_v<scalar_t, float>) {
    sgemm_(&op_y, &op_x, &cols, &rows, &inner, &alpha, y, &ld_y, x, &inner, &beta, c, &cols);
  } else {
    dgemm_(&op_y, &op_x, &cols, &rows, &inner, &alpha, y, &ld_y, x, &inner, &beta, c, &cols);
  }
}

void check_state(const torch::Tensor& t, const torch::Tensor& like, const char* name) {
  TORCH_CHECK(t.is_contiguous() && t.device().is_cpu(), name, ": expected a contiguous CPU tensor");
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), name, ": expected dtype ", like.scalar_type());
}

// One thread's rows of the stacked state (pcalm/models/residual_stacked.py): p = [mu_1; z_1; ...; z_H] (H + 1, B, N),
// a = phi(z), e, lam (H, B, N; lam null for PC); w_hidden (H - 1, N, N) with the block predicting
// hidden layer i from i - 1 (0-based) at index i - 1, w_hidden_t its transposes; w_out (n_out, N);
// y, eps_out (B, n_out). The pointers start at the thread's first row; consecutive layers are
// `stride` = B N apart, and a layer holds `count` = rows N of the thread's elements.
template <typename scalar_t>
struct Rows {
  scalar_t *p, *a, *e, *lam;
  const scalar_t *w_hidden, *w_hidden_t, *w_out, *y;
  scalar_t* eps_out;
  int64_t hidden, stride, count;
  int rows, width, n_out;
  scalar_t s_h, s_out, eta, rho;
  std::vector<torch::Tensor> a_layers, z_layers;  // tanh: the rows' views of a_i and z_i

  scalar_t* z(int64_t i) const { return p + (i + 1) * stride; }
};

// a_i = phi(z_i) on a thread's rows (linear: a is z itself, nothing to do).
template <typename scalar_t, int64_t activation>
void activate(const Rows<scalar_t>& s, int64_t i) {
  if constexpr (activation == kRelu) {
    const scalar_t* z = s.z(i);
    scalar_t* a = s.a + i * s.stride;
#pragma omp simd
    for (int64_t j = 0; j < s.count; ++j) a[j] = z[j] < scalar_t(0) ? scalar_t(0) : z[j];
  } else if constexpr (activation == kTanh) {
    torch::Tensor a_layer = s.a_layers[i];
    at::tanh_out(a_layer, s.z_layers[i]);
  }
}

// Step t of hidden layer i on a thread's rows (the header's formulas); alpha is alpha_t (0: no
// dual step), v and m the thread's scratch for the two matmuls, sums this step's per-layer sums.
template <typename scalar_t, int64_t activation, bool multipliers>
void layer_step(const Rows<scalar_t>& s, int64_t i, double alpha, scalar_t* v, scalar_t* m, double* sums) {
  const bool from_above = i + 1 < s.hidden, predicted = i > 0;
  const int64_t block = int64_t(s.width) * s.width;
  if (from_above) {
    matmul_rows(s.e + (i + 1) * s.stride, s.w_hidden + i * block, false, v, s.rows, s.width, s.width, scalar_t(1), scalar_t(0));
  } else {
    matmul_rows<scalar_t>(s.eps_out, s.w_out, false, v, s.rows, s.n_out, s.width, s.s_out / s.s_h, scalar_t(0));
  }
  if (predicted) {
    matmul_rows(s.a + (i - 1) * s.stride, s.w_hidden_t + (i - 1) * block, false, m, s.rows, s.width, s.width, scalar_t(1),
                scalar_t(0));
  }
  scalar_t* z = s.z(i);
  scalar_t* a = s.a + i * s.stride;
  scalar_t* e = s.e + i * s.stride;
  scalar_t* lam = multipliers ? s.lam + i * s.stride : nullptr;
  const scalar_t* e_above = from_above ? e + s.stride : e;
  const scalar_t* below = s.p + i * s.stride;  // z_{i-1}, or mu_1 for layer 0
  const scalar_t eta_sh = s.eta * s.s_h, eta = s.eta, keep_above = from_above ? scalar_t(1) : scalar_t(0);
  const scalar_t minus_sh = -s.s_h, c = scalar_t(double(s.rho) + alpha), dual_alpha = scalar_t(alpha);
  const bool dual = alpha != 0.0;
  // The elements at j, one (T = scalar_t) or a cache line's worth (T = Line<scalar_t>): the
  // activity update, then eps, e and lam at the new z; eps^2 and eps lam go to the partial sums.
  auto update = [&]<typename T>(int64_t j, T& eps_eps, T& eps_lam) {
    const T zero{}, one = zero + scalar_t(1);
    T zj = load<T>(z + j);
    T slope = one;
    if constexpr (activation == kRelu) slope = zj > zero ? one : zero;
    if constexpr (activation == kTanh) {
      const T aj = load<T>(a + j);  // phi(z) before the update
      slope = one - aj * aj;
    }
    zj = zj + eta_sh * load<T>(v + j) * slope;
    zj = zj - eta * load<T>(e + j);
    zj = zj + keep_above * (eta * load<T>(e_above + j));
    store(z + j, zj);
    if constexpr (activation == kRelu) store(a + j, zj < zero ? zero : zj);
    T eps = zj - load<T>(below + j);
    if (predicted) eps = eps + minus_sh * load<T>(m + j);
    eps_eps += eps * eps;
    if constexpr (multipliers) {
      const T old = load<T>(lam + j);
      eps_lam += eps * old;
      store(e + j, old + c * eps);
      if (dual) store(lam + j, old + dual_alpha * eps);
    } else {
      store(e + j, eps);
    }
  };
  // The pass reads up to eight streams from L2 (the state is larger than L1), more than the
  // hardware prefetcher follows: each cache line is computed as one vector while the lines
  // kAhead lines further on are requested (for writing where the pass writes them). The sums
  // accumulate per position in the line, in scalar_t over kBlock lines and then in float64: a
  // float32 partial carries at most kBlock = 8 roundings, and only the partials are converted
  // (converting each product was what bound the pass); the positions are added at the end.
  using Vector = Line<scalar_t>;
  constexpr int64_t line = sizeof(Vector) / sizeof(scalar_t), ahead = kAhead * line;
  double lam_slots[line] = {}, eps_slots[line] = {};
  const int64_t whole_lines = s.count - s.count % line;
  for (int64_t b0 = 0; b0 < whole_lines; b0 += kBlock * line) {
    Vector eps_eps{}, eps_lam{};
    for (int64_t j0 = b0; j0 < std::min(b0 + kBlock * line, whole_lines); j0 += line) {
      __builtin_prefetch(z + j0 + ahead, 1);
      __builtin_prefetch(e + j0 + ahead, 1);
      __builtin_prefetch(e_above + j0 + ahead, 0);
      __builtin_prefetch(below + j0 + ahead, 0);
      __builtin_prefetch(v + j0 + ahead, 0);
      if constexpr (activation != kLinear) __builtin_prefetch(a + j0 + ahead, 1);
      if (predicted) __builtin_prefetch(m + j0 + ahead, 0);
      if constexpr (multipliers) __builtin_prefetch(lam + j0 + ahead, 1);
      update(j0, eps_eps, eps_lam);
    }
    for (int64_t k = 0; k < line; ++k) {
      eps_slots[k] += double(eps_eps[k]);
      lam_slots[k] += double(eps_lam[k]);
    }
  }
  for (int64_t j = whole_lines; j < s.count; ++j) {
    scalar_t eps_eps{}, eps_lam{};
    update(j, eps_eps, eps_lam);
    eps_slots[0] += double(eps_eps);
    lam_slots[0] += double(eps_lam);
  }
  double eps_lam = 0.0, eps_eps = 0.0;
  for (int64_t k = 0; k < line; ++k) {
    eps_lam += lam_slots[k];
    eps_eps += eps_slots[k];
  }
  if constexpr (activation == kTanh) activate<scalar_t, activation>(s, i);
  if constexpr (multipliers) {
    sums[2 * i] = eps_lam;
    sums[2 * i + 1] = eps_eps;
  } else {
    sums[i] = eps_eps;
  }
}

// e_out = y - s_out a_{L-1} W_L^T on a thread's rows; returns their <e_out, e_out> in float64.
template <typename scalar_t>
double readout(const Rows<scalar_t>& s) {
  const int64_t size = int64_t(s.rows) * s.n_out;
  std::copy(s.y, s.y + size, s.eps_out);
  matmul_rows(s.a + (s.hidden - 1) * s.stride, s.w_out, true, s.eps_out, s.rows, s.width, s.n_out, -s.s_out, scalar_t(1));
  double total = 0.0;
  for (int64_t j = 0; j < size; ++j) total += double(s.eps_out[j]) * double(s.eps_out[j]);
  return total;
}

// The feedforward start on a thread's rows: mu_1 = s_in x W_1^T, z_0 = mu_1, z_i = z_{i-1} + s_h
// a_{i-1} W_{i+1}^T, a = phi(z), e = lam = 0 (every hidden eps is 0); returns the read-out's
// <e_out, e_out>. x: the thread's rows of the input, w_in (N, n_in).
template <typename scalar_t, int64_t activation>
double feedforward(const Rows<scalar_t>& s, const scalar_t* x, const scalar_t* w_in, int n_in, scalar_t s_in) {
  matmul_rows(x, w_in, true, s.p, s.rows, n_in, s.width, s_in, scalar_t(0));
  for (int64_t i = 0; i < s.hidden; ++i) {
    scalar_t* z = s.z(i);
    const scalar_t* below = s.p + i * s.stride;  // mu_1, then z_{i-1}
    std::copy(below, below + s.count, z);
    if (i > 0) {
      matmul_rows(s.a + (i - 1) * s.stride, s.w_hidden_t + (i - 1) * int64_t(s.width) * s.width, false, z, s.rows, s.width,
                  s.width, s.s_h, scalar_t(1));
    }
    activate<scalar_t, activation>(s, i);
    std::fill(s.e + i * s.stride, s.e + i * s.stride + s.count, scalar_t(0));
    if (s.lam != nullptr) std::fill(s.lam + i * s.stride, s.lam + i * s.stride + s.count, scalar_t(0));
  }
  return readout(s);
}

// What one thread's run did, counted as it ran: layer-steps (one activity step, prediction pass
// and energy sums of one hidden layer) and dual updates (lam_i += alpha_t eps_i of one layer).
struct Work {
  int64_t layer_steps = 0, dual_updates = 0;
};

// The feedforward start and all steps on one thread's rows, `skew` steps per diagonal sweep (the
// header); the thread's sums go to hidden_sums (steps, H, 1 or 2) and out_sums (steps + 1).
template <typename scalar_t, int64_t activation, bool multipliers>
void run_rows(const Rows<scalar_t>& s, const scalar_t* x, const scalar_t* w_in, int n_in, scalar_t s_in,
              const std::vector<double>& alphas, const std::vector<int64_t>& first_layers, int64_t skew, double* hidden_sums,
              double* out_sums, Work& work) {
  const int64_t steps = static_cast<int64_t>(alphas.size()), per_step = s.hidden * (multipliers ? 2 : 1);
  out_sums[0] = feedforward<scalar_t, activation>(s, x, w_in, n_in, s_in);
  std::vector<scalar_t> v(s.count), m(s.count);
  Work counted;  // on this thread's stack: the threads' Work entries share a cache line
  for (int64_t t0 = 0; t0 < steps; t0 += skew) {
    const int64_t span = std::min(skew, steps - t0);
    for (int64_t j = 0; j < s.hidden + span - 1; ++j) {
      for (int64_t q = std::max<int64_t>(0, j - s.hidden + 1); q < std::min(span, j + 1); ++q) {
        const int64_t i = j - q, t = t0 + q;
        if (i < first_layers[t]) continue;  // below the wavefront: its e, lam are 0 and nothing changes
        layer_step<scalar_t, activation, multipliers>(s, i, alphas[t], v.data(), m.data(), hidden_sums + t * per_step);
        ++counted.layer_steps;
        if (multipliers && alphas[t] != 0.0) ++counted.dual_updates;
        if (i == s.hidden - 1) out_sums[t + 1] = readout(s);
      }
    }
  }
  work = counted;
}

// Runs job(rank) for rank = 0..threads-1, each on its own thread of torch's OpenMP pool.
template <typename Job>
void on_threads(int threads, const Job& job) {
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int rank = 0; rank < threads; ++rank) job(rank);
}

}  // namespace

// The scalars of a run: the schedule as data (alphas[t]: the dual step after activity step t + 1,
// 0 where none follows; first_layers[t]: the lowest hidden layer that step runs on, the wavefront
// of pcalm/engine/stacked/run.py, all 0 for a dense run), steps per sweep, the activation (0 linear, 1 relu, 2 tanh), the model's
// scalings and the step sizes.
struct Options {
  std::vector<double> alphas;
  std::vector<int64_t> first_layers;
  int64_t skew, activation;
  double s_in, s_h, s_out, eta, rho;
};

// The run's tensors by name; "lam" is absent for PC (e is eps). Every other name must be given.
torch::Tensor named(const std::map<std::string, torch::Tensor>& tensors, const char* name) {
  const auto found = tensors.find(name);
  TORCH_CHECK(found != tensors.end(), "run_steps: missing tensor ", name);
  return found->second;
}

// The fast path's run (the schedule itself, rounds, inner steps and timing, stays in Python): the
// feedforward start from x, then T = alphas.size() activity steps, each followed by the prediction
// pass at the new z and, where alphas[t] is not 0, the dual step lam += alphas[t] eps; `skew`
// steps per sweep. tensors: x (B, n_0), y (B, n_L), w_in, w_hidden, w_hidden_t, w_out (the weights,
// w_hidden_t the contiguous transposes of w_hidden), p (H + 1, B, N), a, e, lam (H, B, N), eps_out
// (B, n_L), hidden_sums (steps + 1, H, 1, 1 or 2; float64), out_sums (steps + 1). p, a, e, lam,
// eps_out are written from scratch; hidden_sums[t] gets the per-layer sums of step t (0: the start,
// where they are 0), out_sums[t] the read-out's <e_out, e_out>. Returns the work one thread's rows
// took ("layer_steps", "dual_updates"; every thread runs the same layer-steps on its own rows).
std::map<std::string, int64_t> run_steps(const std::map<std::string, torch::Tensor>& tensors, const Options& options) {
  static const std::vector<std::string> known = {"x", "w_in", "w_hidden", "w_hidden_t", "w_out", "y", "p", "a", "e", "lam",
                                                 "eps_out", "hidden_sums", "out_sums"};
  for (const auto& entry : tensors) {
    TORCH_CHECK(std::find(known.begin(), known.end(), entry.first) != known.end(), "run_steps: unknown tensor ", entry.first);
  }
  const torch::Tensor x = named(tensors, "x"), w_in = named(tensors, "w_in"), w_hidden = named(tensors, "w_hidden"),
                      w_hidden_t = named(tensors, "w_hidden_t"), w_out = named(tensors, "w_out"), y = named(tensors, "y"),
                      p = named(tensors, "p"), a = named(tensors, "a"), e = named(tensors, "e"), eps_out = named(tensors, "eps_out"),
                      hidden_sums = named(tensors, "hidden_sums"), out_sums = named(tensors, "out_sums");
  const c10::optional<torch::Tensor> lam = tensors.count("lam") ? c10::optional<torch::Tensor>(tensors.at("lam")) : c10::nullopt;
  const std::vector<double>& alphas = options.alphas;
  const int64_t skew = options.skew, activation = options.activation;
  const double s_in = options.s_in, s_h = options.s_h, s_out = options.s_out, eta = options.eta, rho = options.rho;
  for (const auto& [tensor, name] : {std::pair{&x, "x"}, {&w_in, "w_in"}, {&w_hidden, "w_hidden"}, {&w_hidden_t, "w_hidden_t"},
                                     {&w_out, "w_out"}, {&y, "y"}, {&a, "a"}, {&e, "e"}, {&eps_out, "eps_out"}, {&out_sums, "out_sums"}}) {
    check_state(*tensor, p, name);
  }
  check_state(p, p, "p");
  if (lam.has_value()) check_state(*lam, p, "lam");
  TORCH_CHECK(activation == kLinear || activation == kRelu || activation == kTanh, "run_steps: unknown activation ", activation);
  TORCH_CHECK(p.dim() == 3 && e.dim() == 3, "run_steps: p and e must be (layers, batch, width)");
  const int64_t hidden = e.size(0), batch = e.size(1), width = e.size(2);
  TORCH_CHECK(p.size(0) == hidden + 1 && p.sizes().slice(1) == e.sizes().slice(1) && a.sizes() == e.sizes(),
              "run_steps: p, a, e do not stack the same layers");
  TORCH_CHECK(!lam.has_value() || lam->sizes() == e.sizes(), "run_steps: lam and e differ in shape");
  TORCH_CHECK(x.dim() == 2 && x.size(0) == batch && w_in.dim() == 2 && w_in.size(0) == width && w_in.size(1) == x.size(1),
              "run_steps: x and w_in do not match");
  TORCH_CHECK(w_hidden.dim() == 3 && w_hidden.size(0) == hidden - 1 && w_hidden.size(1) == width && w_hidden.size(2) == width,
              "run_steps: w_hidden must be (layers - 1, width, width)");
  TORCH_CHECK(w_hidden_t.sizes() == w_hidden.sizes(), "run_steps: w_hidden_t must be w_hidden's shape");
  TORCH_CHECK(w_out.dim() == 2 && w_out.size(1) == width && y.sizes() == eps_out.sizes() && y.dim() == 2 &&
                  y.size(0) == batch && y.size(1) == w_out.size(0),
              "run_steps: w_out, y, eps_out do not match");
  const int64_t steps = static_cast<int64_t>(alphas.size()), reductions = lam.has_value() ? 2 : 1, per_step = hidden * reductions;
  TORCH_CHECK(hidden_sums.is_contiguous() && hidden_sums.scalar_type() == torch::kFloat64,
              "hidden_sums: expected a contiguous float64 tensor");
  TORCH_CHECK(hidden_sums.numel() == (steps + 1) * per_step, "hidden_sums: wrong size");
  TORCH_CHECK(out_sums.numel() == steps + 1, "out_sums: wrong size");
  TORCH_CHECK(skew >= 1, "run_steps: skew must be at least 1");
  TORCH_CHECK(static_cast<int64_t>(options.first_layers.size()) == steps, "run_steps: first_layers needs one entry per step");
  for (const int64_t first : options.first_layers) {
    TORCH_CHECK(first >= 0 && first < hidden, "run_steps: first_layers must lie in [0, hidden layers)");
  }
  Work work;
  py::gil_scoped_release no_gil;
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "run_steps", [&] {
    const int threads = static_cast<int>(std::min<int64_t>(at::get_num_threads(), batch));
    // Each thread's sums: (steps + 1, H, reductions) and (steps + 1), added in thread order below.
    std::vector<double> thread_hidden(threads * (steps + 1) * per_step, 0.0), thread_out(threads * (steps + 1), 0.0);
    std::vector<Work> thread_work(threads);
    auto thread_rows = [&](int rank) {
      const int previous_blas_threads = MKL_Set_Num_Threads_Local(1);
      const int64_t first = batch * rank / threads, rows = batch * (rank + 1) / threads - first;
      const int64_t offset = first * width, n_out = w_out.size(0), n_in = x.size(1);
      Rows<scalar_t> s{p.data_ptr<scalar_t>() + offset, a.data_ptr<scalar_t>() + offset, e.data_ptr<scalar_t>() + offset,
                       lam.has_value() ? lam->data_ptr<scalar_t>() + offset : nullptr, w_hidden.data_ptr<scalar_t>(),
                       w_hidden_t.data_ptr<scalar_t>(), w_out.data_ptr<scalar_t>(), y.data_ptr<scalar_t>() + first * n_out,
                       eps_out.data_ptr<scalar_t>() + first * n_out, hidden, batch * width, rows * width,
                       static_cast<int>(rows), static_cast<int>(width), static_cast<int>(n_out),
                       scalar_t(s_h), scalar_t(s_out), scalar_t(eta), scalar_t(rho), {}, {}};
      if (activation == kTanh) {
        for (int64_t i = 0; i < hidden; ++i) {
          s.a_layers.push_back(a.select(0, i).narrow(0, first, rows));
          s.z_layers.push_back(p.select(0, i + 1).narrow(0, first, rows));
        }
      }
      const scalar_t* x_rows = x.data_ptr<scalar_t>() + first * n_in;
      const scalar_t* w_in_data = w_in.data_ptr<scalar_t>();
      double* sums = thread_hidden.data() + rank * (steps + 1) * per_step + per_step;  // step 0's sums stay 0
      double* outs = thread_out.data() + rank * (steps + 1);
      auto run = [&](auto kind) {
        constexpr int64_t act = decltype(kind)::value;
        if (s.lam != nullptr) run_rows<scalar_t, act, true>(s, x_rows, w_in_data, int(n_in), scalar_t(s_in), alphas, options.first_layers, skew, sums, outs, thread_work[rank]);
        else run_rows<scalar_t, act, false>(s, x_rows, w_in_data, int(n_in), scalar_t(s_in), alphas, options.first_layers, skew, sums, outs, thread_work[rank]);
      };
      if (activation == kRelu) run(std::integral_constant<int64_t, kRelu>{});
      else if (activation == kTanh) run(std::integral_constant<int64_t, kTanh>{});
      else run(std::integral_constant<int64_t, kLinear>{});
      MKL_Set_Num_Threads_Local(previous_blas_threads);
    };
    on_threads(threads, thread_rows);
    double* sums = hidden_sums.data_ptr<double>();
    scalar_t* outs = out_sums.data_ptr<scalar_t>();
    for (int64_t k = 0; k < (steps + 1) * per_step; ++k) {
      double total = 0.0;
      for (int rank = 0; rank < threads; ++rank) total += thread_hidden[rank * (steps + 1) * per_step + k];
      sums[k] = total;
    }
    for (int64_t t = 0; t <= steps; ++t) {
      double total = 0.0;
      for (int rank = 0; rank < threads; ++rank) total += thread_out[rank * (steps + 1) + t];
      outs[t] = scalar_t(total);
    }
    work = thread_work[0];
  });
  return {{"layer_steps", work.layer_steps}, {"dual_updates", work.dual_updates}};
}

// BP on one thread's rows (pcalm/engine/stacked/bp.py): the feedforward pass, then the
// backward signals delta_l = -B dl/dz_l of l = 1/(2B) |y - y_hat|^2 from the top down,
//
//   delta_{L-1} = s_out (e_out W_L) * phi'(z_{L-1}),   e_out = y - s_out a_{L-1} W_L^T
//   delta_i     = delta_{i+1} + s_h (delta_{i+1} W_{i+1}) * phi'(z_i)     (the vector-Jacobian products)
//
// into e (H, B, N). Rows never interact here either; the weight gradients, which sum over the
// rows, are one batched matmul in Python afterwards. Returns the rows' <e_out, e_out> in float64.
template <typename scalar_t, int64_t activation>
double backprop_rows(const Rows<scalar_t>& s, const scalar_t* x, const scalar_t* w_in, int n_in, scalar_t s_in, scalar_t* v) {
  const int64_t block = int64_t(s.width) * s.width;
  matmul_rows(x, w_in, true, s.p, s.rows, n_in, s.width, s_in, scalar_t(0));
  for (int64_t i = 0; i < s.hidden; ++i) {
    scalar_t* z = s.z(i);
    const scalar_t* below = s.p + i * s.stride;  // mu_1, then z_{i-1}
    std::copy(below, below + s.count, z);
    if (i > 0) {  // z_i = z_{i-1} + s_h a_{i-1} W^T, W the block predicting hidden layer i (index i - 1)
      matmul_rows(s.a + (i - 1) * s.stride, s.w_hidden + (i - 1) * block, true, z, s.rows, s.width, s.width, s.s_h, scalar_t(1));
    }
    activate<scalar_t, activation>(s, i);
  }
  const double total = readout(s);
  for (int64_t i = s.hidden - 1; i >= 0; --i) {
    const bool top = i == s.hidden - 1;
    scalar_t* e = s.e + i * s.stride;
    if (top) {
      matmul_rows<scalar_t>(s.eps_out, s.w_out, false, v, s.rows, s.n_out, s.width, scalar_t(1), scalar_t(0));
    } else {
      matmul_rows(e + s.stride, s.w_hidden + i * block, false, v, s.rows, s.width, s.width, scalar_t(1), scalar_t(0));
    }
    const scalar_t scale = top ? s.s_out : s.s_h;
    const scalar_t* z = s.z(i);
    const scalar_t* a = s.a + i * s.stride;
    auto signal = [&](int64_t j) {
      scalar_t slope = scalar_t(1);
      if constexpr (activation == kRelu) slope = z[j] > scalar_t(0) ? scalar_t(1) : scalar_t(0);
      if constexpr (activation == kTanh) slope = scalar_t(1) - a[j] * a[j];
      return scale * v[j] * slope;
    };
    if (top) {
#pragma omp simd
      for (int64_t j = 0; j < s.count; ++j) e[j] = signal(j);
    } else {
      const scalar_t* above = e + s.stride;
#pragma omp simd
      for (int64_t j = 0; j < s.count; ++j) e[j] = above[j] + signal(j);
    }
  }
  return total;
}

// BP's feedforward pass and backward signals (pcalm/engine/stacked/bp.py), on the threads'
// rows of the batch. tensors: x (B, n_0), y (B, n_L), w_in, w_hidden (H - 1, N, N), w_out; p
// (H + 1, B, N) gets [mu_1; z_1; ...; z_H], a (H, B, N) phi(z) (linear: a is p[1:] itself), e
// (H, B, N) the signals delta, eps_out (B, n_L) y - y_hat. Returns sum |y - y_hat|^2 (float64,
// the threads' sums added in thread order).
double backprop_steps(const std::map<std::string, torch::Tensor>& tensors, int64_t activation, double s_in, double s_h, double s_out) {
  const torch::Tensor x = named(tensors, "x"), y = named(tensors, "y"), w_in = named(tensors, "w_in"), w_hidden = named(tensors, "w_hidden"),
                      w_out = named(tensors, "w_out"), p = named(tensors, "p"), a = named(tensors, "a"), e = named(tensors, "e"),
                      eps_out = named(tensors, "eps_out");
  TORCH_CHECK(tensors.size() == 9, "backprop_steps: expected the tensors x, y, w_in, w_hidden, w_out, p, a, e, eps_out");
  for (const auto& [tensor, name] : {std::pair{&x, "x"}, {&w_in, "w_in"}, {&w_hidden, "w_hidden"}, {&w_out, "w_out"}, {&y, "y"},
                                     {&a, "a"}, {&e, "e"}, {&eps_out, "eps_out"}, {&p, "p"}}) {
    check_state(*tensor, p, name);
  }
  TORCH_CHECK(activation == kLinear || activation == kRelu || activation == kTanh, "backprop_steps: unknown activation ", activation);
  TORCH_CHECK(p.dim() == 3 && e.dim() == 3, "backprop_steps: p and e must be (layers, batch, width)");
  const int64_t hidden = e.size(0), batch = e.size(1), width = e.size(2);
  TORCH_CHECK(p.size(0) == hidden + 1 && p.sizes().slice(1) == e.sizes().slice(1) && a.sizes() == e.sizes(),
              "backprop_steps: p, a, e do not stack the same layers");
  TORCH_CHECK(x.dim() == 2 && x.size(0) == batch && w_in.dim() == 2 && w_in.size(0) == width && w_in.size(1) == x.size(1),
              "backprop_steps: x and w_in do not match");
  TORCH_CHECK(w_hidden.dim() == 3 && w_hidden.size(0) == hidden - 1 && w_hidden.size(1) == width && w_hidden.size(2) == width,
              "backprop_steps: w_hidden must be (layers - 1, width, width)");
  TORCH_CHECK(w_out.dim() == 2 && w_out.size(1) == width && y.sizes() == eps_out.sizes() && y.dim() == 2 && y.size(0) == batch &&
                  y.size(1) == w_out.size(0),
              "backprop_steps: w_out, y, eps_out do not match");
  double loss_sum = 0.0;
  py::gil_scoped_release no_gil;
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "backprop_steps", [&] {
    const int threads = static_cast<int>(std::min<int64_t>(at::get_num_threads(), batch));
    std::vector<double> thread_sums(threads, 0.0);
    auto thread_rows = [&](int rank) {
      const int previous_blas_threads = MKL_Set_Num_Threads_Local(1);
      const int64_t first = batch * rank / threads, rows = batch * (rank + 1) / threads - first;
      const int64_t offset = first * width, n_out = w_out.size(0), n_in = x.size(1);
      Rows<scalar_t> s{p.data_ptr<scalar_t>() + offset, a.data_ptr<scalar_t>() + offset, e.data_ptr<scalar_t>() + offset, nullptr,
                       w_hidden.data_ptr<scalar_t>(), nullptr, w_out.data_ptr<scalar_t>(), y.data_ptr<scalar_t>() + first * n_out,
                       eps_out.data_ptr<scalar_t>() + first * n_out, hidden, batch * width, rows * width,
                       static_cast<int>(rows), static_cast<int>(width), static_cast<int>(n_out),
                       scalar_t(s_h), scalar_t(s_out), scalar_t(0), scalar_t(0), {}, {}};
      if (activation == kTanh) {
        for (int64_t i = 0; i < hidden; ++i) {
          s.a_layers.push_back(a.select(0, i).narrow(0, first, rows));
          s.z_layers.push_back(p.select(0, i + 1).narrow(0, first, rows));
        }
      }
      std::vector<scalar_t> v(s.count);
      const scalar_t* x_rows = x.data_ptr<scalar_t>() + first * n_in;
      auto run = [&](auto kind) {
        constexpr int64_t act = decltype(kind)::value;
        thread_sums[rank] = backprop_rows<scalar_t, act>(s, x_rows, w_in.data_ptr<scalar_t>(), int(n_in), scalar_t(s_in), v.data());
      };
      if (activation == kRelu) run(std::integral_constant<int64_t, kRelu>{});
      else if (activation == kTanh) run(std::integral_constant<int64_t, kTanh>{});
      else run(std::integral_constant<int64_t, kLinear>{});
      MKL_Set_Num_Threads_Local(previous_blas_threads);
    };
    on_threads(threads, thread_rows);
    for (int rank = 0; rank < threads; ++rank) loss_sum += thread_sums[rank];
  });
  return loss_sum;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  py::class_<Options>(module, "Options", "the scalars of a run (see run_steps)")
      .def(py::init<std::vector<double>, std::vector<int64_t>, int64_t, int64_t, double, double, double, double, double>(),
           py::kw_only(), py::arg("alphas"), py::arg("first_layers"), py::arg("skew"), py::arg("activation"), py::arg("s_in"), py::arg("s_h"), py::arg("s_out"),
           py::arg("eta"), py::arg("rho"))
      .def_readonly("alphas", &Options::alphas);
  module.def("run_steps", &run_steps, py::arg("tensors"), py::arg("options"),
             "the fast path's run: the feedforward start and T steps (see the source's header)");
  module.def("backprop_steps", &backprop_steps, py::arg("tensors"), py::arg("activation"), py::arg("s_in"), py::arg("s_h"), py::arg("s_out"),
             "BP's feedforward pass and backward signals on the stacked state (see backprop_rows)");
}
