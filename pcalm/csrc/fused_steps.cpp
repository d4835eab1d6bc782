// Fused CPU kernels of the layer-parallel schedule (pcalm/fast.py, DESIGN section 3).
//
// Each kernel is one pass over the stacked (H, B, N) state (H = L-1 hidden layers) and does the
// elementwise work that the eager path spreads over several torch ops, so each float of the
// state is read and written once per pass instead of once per op:
//
//   activity_step:  z_l += eta s_h v_l * phi'(z_l) - eta e_l + eta e_{l+1}   (e_L's term is in v)
//                   and, for relu, a_l = relu(z_l) at the new z.
//   errors_step:    eps_l = z_l - z_{l-1} - s_h m_l   (m_l = phi(z_{l-1}) W_l^T, from a bmm;
//                   layer 1: eps_1 = z_1 - mu_1), the per-layer sums <eps_l, lam_l>, <eps_l, eps_l>,
//                   e_l = lam_l + c eps_l, and lam_l += alpha eps_l (the dual step, alpha = 0: none).
//
// Layer l reads layers l-1, l and l+1 only, through the offsets below. The order of the
// floating-point operations follows the eager ops, one rounding per op, so the two paths agree
// to rounding; tests/test_fast_path.py checks both against the reference loop in float64.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>

namespace {

constexpr int64_t kLinear = 0, kRelu = 1, kTanh = 2;
constexpr int64_t kGrain = 16384;

void check_state(const torch::Tensor& t, const torch::Tensor& like, const char* name) {
  TORCH_CHECK(t.is_contiguous() && t.device().is_cpu(), name, ": expected a contiguous CPU tensor");
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), name, ": expected dtype ", like.scalar_type());
}

template <typename scalar_t, int64_t activation, bool from_above>
inline void activity_range(scalar_t* z, const scalar_t* v, const scalar_t* e, scalar_t* a, int64_t begin, int64_t end,
                           int64_t layer, scalar_t eta_sh, scalar_t eta) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    const scalar_t zi = z[i];
    scalar_t slope = scalar_t(1);
    if constexpr (activation == kRelu) slope = zi > scalar_t(0) ? scalar_t(1) : scalar_t(0);
    if constexpr (activation == kTanh) slope = scalar_t(1) - a[i] * a[i];
    scalar_t updated = zi + eta_sh * v[i] * slope;
    updated = updated - eta * e[i];
    if constexpr (from_above) updated = updated + eta * e[i + layer];
    z[i] = updated;
    if constexpr (activation == kRelu) a[i] = updated < scalar_t(0) ? scalar_t(0) : updated;
  }
}

template <typename scalar_t, int64_t activation>
void activity_kernel(scalar_t* z, const scalar_t* v, const scalar_t* e, scalar_t* a, int64_t total, int64_t layer,
                     scalar_t eta_sh, scalar_t eta) {
  // Flat index i is in layer i / layer; the last hidden layer has no e_{l+1} term (its branch is v).
  const int64_t last = total - layer;
  at::parallel_for(0, total, kGrain, [&](int64_t begin, int64_t end) {
    const int64_t split = std::min(std::max(last, begin), end);
    activity_range<scalar_t, activation, true>(z, v, e, a, begin, split, layer, eta_sh, eta);
    activity_range<scalar_t, activation, false>(z, v, e, a, split, end, layer, eta_sh, eta);
  });
}

template <typename scalar_t, bool multipliers, bool predicted, bool dual>
inline void errors_layer(const scalar_t* z, const scalar_t* below, const scalar_t* pred, scalar_t* lam, scalar_t* e,
                         double* sums, int64_t layer, scalar_t s_h, scalar_t c, scalar_t alpha) {
  double eps_lam = 0.0, eps_eps = 0.0;
#pragma omp simd reduction(+ : eps_lam, eps_eps)
  for (int64_t i = 0; i < layer; ++i) {
    scalar_t eps = z[i] - below[i];
    if constexpr (predicted) eps = eps + (-s_h) * pred[i];
    eps_eps += double(eps) * double(eps);
    if constexpr (multipliers) {
      const scalar_t old = lam[i];
      eps_lam += double(eps) * double(old);
      e[i] = old + c * eps;
      if constexpr (dual) lam[i] = old + alpha * eps;
    } else {
      e[i] = eps;
    }
  }
  if constexpr (multipliers) {
    sums[0] = eps_lam;
    sums[1] = eps_eps;
  } else {
    sums[0] = eps_eps;
  }
}

template <typename scalar_t, bool multipliers, bool dual>
void errors_kernel(const scalar_t* p, const scalar_t* m, scalar_t* lam, scalar_t* e, double* sums, int64_t hidden,
                   int64_t layer, scalar_t s_h, scalar_t c, scalar_t alpha) {
  // p = [mu_1; z_1; ...; z_{L-1}]: hidden layer l (from 0) has z at p + (l+1) layer and the layer
  // below at p + l layer; m holds the predictions of layers 1.. (layer 0's mu_1 is in p).
  constexpr int64_t per_layer = multipliers ? 2 : 1;
  at::parallel_for(0, hidden, 1, [&](int64_t begin, int64_t end) {
    for (int64_t l = begin; l < end; ++l) {
      scalar_t* laml = multipliers ? lam + l * layer : nullptr;
      if (l == 0) {
        errors_layer<scalar_t, multipliers, false, dual>(p + layer, p, nullptr, laml, e, sums, layer, s_h, c, alpha);
      } else {
        errors_layer<scalar_t, multipliers, true, dual>(p + (l + 1) * layer, p + l * layer, m + (l - 1) * layer, laml,
                                                         e + l * layer, sums + per_layer * l, layer, s_h, c, alpha);
      }
    }
  });
}

}  // namespace

void activity_step(torch::Tensor z, torch::Tensor v, torch::Tensor e, torch::Tensor a, int64_t activation, double eta_sh,
                   double eta) {
  check_state(z, z, "z");
  check_state(v, z, "v");
  check_state(e, z, "e");
  check_state(a, z, "a");
  TORCH_CHECK(v.sizes() == z.sizes() && e.sizes() == z.sizes() && a.sizes() == z.sizes(), "activity_step: shapes differ");
  TORCH_CHECK(activation == kLinear || activation == kRelu || activation == kTanh, "activity_step: unknown activation ", activation);
  const int64_t layer = z.numel() / z.size(0);
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "activity_step", [&] {
    auto run = [&](auto kind) {
      activity_kernel<scalar_t, decltype(kind)::value>(z.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(), e.data_ptr<scalar_t>(),
                                                       a.data_ptr<scalar_t>(), z.numel(), layer, scalar_t(eta_sh), scalar_t(eta));
    };
    if (activation == kRelu) run(std::integral_constant<int64_t, kRelu>{});
    else if (activation == kTanh) run(std::integral_constant<int64_t, kTanh>{});
    else run(std::integral_constant<int64_t, kLinear>{});
  });
}

void errors_step(torch::Tensor p, torch::Tensor m, c10::optional<torch::Tensor> lam, torch::Tensor e, torch::Tensor sums,
                 double s_h, double c, double alpha) {
  check_state(p, p, "p");
  check_state(m, p, "m");
  check_state(e, p, "e");
  TORCH_CHECK(sums.is_contiguous() && sums.scalar_type() == torch::kFloat64, "sums: expected a contiguous float64 tensor");
  const int64_t hidden = e.size(0), layer = e.numel() / hidden;
  TORCH_CHECK(p.size(0) == hidden + 1 && m.size(0) == hidden - 1, "errors_step: p, m, e do not stack the same layers");
  TORCH_CHECK(sums.numel() == hidden * (lam.has_value() ? 2 : 1), "errors_step: sums has the wrong size");
  if (lam.has_value()) check_state(*lam, p, "lam");
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "errors_step", [&] {
    const scalar_t* pp = p.data_ptr<scalar_t>();
    const scalar_t* mp = m.data_ptr<scalar_t>();
    scalar_t* ep = e.data_ptr<scalar_t>();
    double* sp = sums.data_ptr<double>();
    const auto sh = scalar_t(s_h), cc = scalar_t(c), aa = scalar_t(alpha);
    if (!lam.has_value()) {
      errors_kernel<scalar_t, false, false>(pp, mp, nullptr, ep, sp, hidden, layer, sh, cc, aa);
    } else if (alpha == 0.0) {
      errors_kernel<scalar_t, true, false>(pp, mp, lam->data_ptr<scalar_t>(), ep, sp, hidden, layer, sh, cc, aa);
    } else {
      errors_kernel<scalar_t, true, true>(pp, mp, lam->data_ptr<scalar_t>(), ep, sp, hidden, layer, sh, cc, aa);
    }
  });
}

// The loop of the fast path (pcalm/fast.py, DESIGN section 3) for T = alphas.size() activity
// steps: per step the same torch calls as the eager path, with the elementwise work in the two
// kernels above. alphas[t] is the dual step's alpha after step t + 1 (0: no dual step there),
// so the schedule itself (rounds, inner steps, timing) stays in Python.
void run_steps(torch::Tensor p, torch::Tensor a, torch::Tensor v, torch::Tensor e, c10::optional<torch::Tensor> lam,
               torch::Tensor w_hidden, torch::Tensor w_hidden_t, torch::Tensor w_out, torch::Tensor y, torch::Tensor eps_out,
               torch::Tensor hidden_sums, torch::Tensor out_sums, std::vector<double> alphas, int64_t activation, double s_h,
               double s_out, double eta, double rho) {
  py::gil_scoped_release no_gil;
  const int64_t hidden = e.size(0);
  auto z = p.slice(0, 1);
  auto e_above = e.slice(0, 1);                  // e_{l+1} for l = 1..L-2
  auto branch = v.slice(0, 0, hidden - 1);       // e_{l+1} W_{l+1}, then the predictions phi(z_{l-1}) W_l^T
  auto branch_out = v.select(0, hidden - 1);     // the read-out's branch
  auto a_below = a.slice(0, 0, hidden - 1);      // phi(z_{l-1}) for l = 2..L-1
  auto a_last = a.select(0, hidden - 1);
  auto w_out_t = w_out.t();
  auto eps_out_flat = eps_out.view(-1);
  for (size_t t = 0; t < alphas.size(); ++t) {
    at::bmm_out(branch, e_above, w_hidden);
    at::addmm_out(branch_out, branch_out, eps_out, w_out, 0.0, s_out / s_h);
    activity_step(z, v, e, a, activation, eta * s_h, eta);
    if (activation == kTanh) at::tanh_out(a, z);
    at::addmm_out(eps_out, y, a_last, w_out_t, 1.0, -s_out);
    auto out_sum = out_sums.select(0, t + 1);
    at::dot_out(out_sum, eps_out_flat, eps_out_flat);
    at::bmm_out(branch, a_below, w_hidden_t);
    errors_step(p, branch, lam, e, hidden_sums.select(0, t + 1), s_h, rho + alphas[t], alphas[t]);
  }
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.def("activity_step", &activity_step, "z += eta s_h v phi'(z) - eta e_l + eta e_{l+1}; relu: a = relu(z)");
  module.def("errors_step", &errors_step, "eps, the per-layer sums, e = lam + c eps, lam += alpha eps");
  module.def("run_steps", &run_steps, "the fast path's activity steps with the fused kernels");
}
