// The usual early returns for absl::Status / StatusOr, for every library:
//
//   RETURN_IF_ERROR(db.Commit(change));           // returns the Status if not OK
//   ASSIGN_OR_RETURN(Snapshot snap, db.Load());   // returns .status() if not OK
//
// Both return the very status they got; a caller that adds context to it
// spells the check out instead.
#ifndef CVOL_STATUS_MACROS_H_
#define CVOL_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"

#define CVOL_CONCAT_INNER(a, b) a##b
#define CVOL_CONCAT(a, b) CVOL_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    if (absl::Status _s = (expr); !_s.ok()) return _s; \
  } while (0)

// lhs is a declaration ("T x") or an lvalue; neither may hold a comma
// outside parentheses (the preprocessor would split it).
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(CVOL_CONCAT(_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = *std::move(tmp)

#endif  // CVOL_STATUS_MACROS_H_
