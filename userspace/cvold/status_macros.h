// The usual early-return helpers for absl::Status / StatusOr.
#ifndef CVOL_CVOLD_STATUS_MACROS_H_
#define CVOL_CVOLD_STATUS_MACROS_H_

#define CVOL_CONCAT_INNER(a, b) a##b
#define CVOL_CONCAT(a, b) CVOL_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                     \
  do {                                            \
    if (absl::Status _s = (expr); !_s.ok()) return _s; \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(CVOL_CONCAT(_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = *std::move(tmp)

#endif  // CVOL_CVOLD_STATUS_MACROS_H_
