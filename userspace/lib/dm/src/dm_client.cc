#include "cvol/dm_client.h"

#include <libdevmapper.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cvol/status_macros.h"

namespace cvol {
namespace {

// libdevmapper's log levels (its private log.h); the low bits are the
// level, higher bits are flags such as "print to stderr" and "once".
constexpr int kLogLevelMask = 0x7;
constexpr int kLogErr = 3;

constexpr char kUdevControl[] = "/run/udev/control";

// What libdevmapper logged during the current operation. Thread-local so
// that two threads' errors do not mix (dm calls themselves should still
// come from one thread: the library has other global state).
struct LogCapture {
  std::vector<std::string> errors;
  int last_errno = 0;
};
thread_local LogCapture g_capture;

__attribute__((format(printf, 5, 6))) void CaptureLog(int level, const char* /*file*/,
                                                      int /*line*/, int dm_errno_or_class,
                                                      const char* format, ...) {
  // Debug and notice messages are noise for a caller that gets a Status;
  // errors are the reason of the failure it is about to see.
  if ((level & kLogLevelMask) > kLogErr) return;
  // The ioctl failure is logged with errno still set but without passing
  // it (a create's inner load is a task of its own, so dm_task_get_errno
  // on ours says 0): keep the first one seen.
  const int saved_errno = errno;
  char buf[1024];
  va_list ap;
  va_start(ap, format);
  std::vsnprintf(buf, sizeof(buf), format, ap);
  va_end(ap);
  g_capture.errors.emplace_back(buf);
  if (dm_errno_or_class > 0) {
    g_capture.last_errno = dm_errno_or_class;
  } else if (g_capture.last_errno == 0) {
    g_capture.last_errno = saved_errno;
  }
  errno = saved_errno;
}

void InstallOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    dm_log_with_errno_init(CaptureLog);
    if (!ShouldSyncWithUdev(getenv("DM_DISABLE_UDEV"), access(kUdevControl, F_OK) == 0)) {
      dm_udev_set_sync_support(0);
    }
  });
}

using TaskPtr = std::unique_ptr<dm_task, void (*)(dm_task*)>;

// Long messages (a map_set can be 64 KiB) are cut in errors.
std::string Abbreviate(absl::string_view text) {
  constexpr size_t kMax = 80;
  if (text.size() <= kMax) return std::string(text);
  return absl::StrCat(text.substr(0, kMax), "...");
}

// One dm operation on one device: collects libdevmapper's errors from
// its start and turns a failure into a Status.
class Operation {
 public:
  Operation(absl::string_view op, absl::string_view name) : op_(op), name_(name) {
    g_capture = LogCapture();
  }

  absl::Status Error(dm_task* dmt = nullptr) const {
    int err = dmt ? dm_task_get_errno(dmt) : 0;
    if (err == 0) err = g_capture.last_errno;
    std::string text = absl::StrCat("dm ", op_, " \"", name_, "\": ");
    if (!g_capture.errors.empty()) {
      absl::StrAppend(&text, absl::StrJoin(g_capture.errors, "; "));
      if (err != 0 && !absl::StrContains(text, std::strerror(err))) {
        absl::StrAppend(&text, " (", std::strerror(err), ")");
      }
    } else if (err != 0) {
      absl::StrAppend(&text, std::strerror(err));
    } else {
      absl::StrAppend(&text, "libdevmapper failed without saying why");
    }
    // The kernel logs why a target refused a table (ti->error) or a
    // message; the ioctl only carries the errno.
    if (err == EINVAL || err == ESTALE) {
      absl::StrAppend(&text, " (the reason is in the kernel log)");
    }
    return absl::Status(err != 0 ? absl::ErrnoToStatusCode(err) : absl::StatusCode::kUnknown,
                        text);
  }

  absl::Status Invalid(absl::string_view why) const {
    return absl::InvalidArgumentError(absl::StrCat("dm ", op_, " \"", name_, "\": ", why));
  }

  absl::Status NotFound() const {
    return absl::NotFoundError(
        absl::StrCat("dm ", op_, " \"", name_, "\": no such device"));
  }

  // A task of `type` for this device, or the error.
  absl::StatusOr<TaskPtr> Task(int type) const {
    TaskPtr dmt(dm_task_create(type), dm_task_destroy);
    if (!dmt) return Error();
    if (!name_.empty() && !dm_task_set_name(dmt.get(), name_.c_str())) return Error(dmt.get());
    return dmt;
  }

  // Runs the task; for tasks that make the kernel send uevents (create,
  // resume, remove) with a udev cookie, waited on afterwards (with udev
  // sync off, that wait is where libdevmapper creates or removes the
  // /dev/mapper node).
  // With probe off, udev makes the device's node but runs no disk or other
  // rules (no blkid): a device created fenced holds every read, and the
  // cookie is only released once udev's rules have run.
  absl::Status Run(dm_task* dmt, bool with_cookie, bool probe = true) const {
    uint32_t cookie = 0;
    const uint16_t flags =
        probe ? 0 : DM_UDEV_DISABLE_DISK_RULES_FLAG | DM_UDEV_DISABLE_OTHER_RULES_FLAG;
    if (with_cookie && !dm_task_set_cookie(dmt, &cookie, flags)) return Error(dmt);
    const int ok = dm_task_run(dmt);
    // Taken before dm_udev_wait can log or change errno.
    absl::Status status = ok ? absl::OkStatus() : Error(dmt);
    if (with_cookie) (void)dm_udev_wait(cookie);
    return status;
  }

 private:
  std::string op_;
  std::string name_;
};

absl::Status AddTargets(const Operation& op, dm_task* dmt, absl::Span<const DmLine> table) {
  if (table.empty()) return op.Invalid("the table has no lines");
  for (const DmLine& line : table) {
    if (!dm_task_add_target(dmt, line.start, line.length, line.target_type.c_str(),
                            line.params.c_str())) {
      return op.Error(dmt);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<dm_info> Info(const Operation& op, dm_task* dmt) {
  dm_info info{};
  if (!dm_task_get_info(dmt, &info)) return op.Error(dmt);
  return info;
}

absl::StatusOr<std::vector<DmLine>> Lines(absl::string_view op_name, const std::string& name,
                                          int type) {
  Operation op(op_name, name);
  ASSIGN_OR_RETURN(TaskPtr dmt, op.Task(type));
  if (absl::Status s = op.Run(dmt.get(), false); !s.ok()) return s;
  ASSIGN_OR_RETURN(dm_info info, Info(op, dmt.get()));
  if (!info.exists) return op.NotFound();
  std::vector<DmLine> lines;
  void* next = nullptr;
  do {
    uint64_t start = 0;
    uint64_t length = 0;
    char* target_type = nullptr;
    char* params = nullptr;
    next = dm_get_next_target(dmt.get(), next, &start, &length, &target_type, &params);
    if (target_type != nullptr) {
      lines.push_back(DmLine{start, length, target_type, params ? params : ""});
    }
  } while (next != nullptr);
  return lines;
}

}  // namespace

bool ShouldSyncWithUdev(const char* dm_disable_udev_env, bool udev_control_exists) {
  if (dm_disable_udev_env != nullptr && std::strcmp(dm_disable_udev_env, "1") == 0) {
    return false;
  }
  return udev_control_exists;
}

DmClient::DmClient() { InstallOnce(); }

DmClient::~DmClient() = default;

absl::Status DmClient::Create(const std::string& name, const std::string& uuid,
                              absl::Span<const DmLine> table, Probe probe) {
  Operation op("create", name);
  if (name.empty()) return op.Invalid("empty device name");
  ASSIGN_OR_RETURN(TaskPtr dmt, op.Task(DM_DEVICE_CREATE));
  if (!uuid.empty() && !dm_task_set_uuid(dmt.get(), uuid.c_str())) return op.Error(dmt.get());
  if (absl::Status s = AddTargets(op, dmt.get(), table); !s.ok()) return s;
  // With a table, DM_DEVICE_CREATE is create + load + resume in
  // libdevmapper, which also removes the device if the load fails.
  return op.Run(dmt.get(), true, probe == Probe::kYes);
}

absl::Status DmClient::Reload(const std::string& name, absl::Span<const DmLine> table,
                              Probe probe) {
  {
    Operation op("reload", name);
    ASSIGN_OR_RETURN(TaskPtr dmt, op.Task(DM_DEVICE_RELOAD));
    if (absl::Status s = AddTargets(op, dmt.get(), table); !s.ok()) return s;
    if (absl::Status s = op.Run(dmt.get(), false); !s.ok()) return s;
  }

  absl::Status suspended;
  {
    Operation op("suspend (noflush)", name);
    ASSIGN_OR_RETURN(TaskPtr dmt, op.Task(DM_DEVICE_SUSPEND));
    if (!dm_task_no_flush(dmt.get())) return op.Error(dmt.get());
    suspended = op.Run(dmt.get(), false);
  }
  if (!suspended.ok()) {
    // Drop the new table so that no later resume swaps it in unasked, and
    // resume in case the failed suspend left the device suspended.
    Operation clear("clear", name);
    absl::StatusOr<TaskPtr> dmt = clear.Task(DM_DEVICE_CLEAR);
    if (dmt.ok()) (void)clear.Run(dmt->get(), false);
    absl::StatusOr<bool> still = Suspended(name);
    if (still.ok() && *still) (void)Resume(name);
    return suspended;
  }

  absl::Status resumed = Resume(name, probe);
  if (resumed.ok()) return resumed;
  // Once more: a resume can fail for a passing reason (memory); if the
  // target refuses the new table (preresume) the device stays suspended
  // with it and only another reload can help, which the error says.
  if (Resume(name, probe).ok()) return absl::OkStatus();
  absl::StatusOr<bool> still = Suspended(name);
  if (still.ok() && *still) {
    return absl::Status(resumed.code(),
                        absl::StrCat(resumed.message(), "; the device stays suspended"));
  }
  return resumed;
}

absl::Status DmClient::Resume(const std::string& name, Probe probe) {
  Operation op("resume", name);
  ASSIGN_OR_RETURN(TaskPtr dmt, op.Task(DM_DEVICE_RESUME));
  return op.Run(dmt.get(), true, probe == Probe::kYes);
}

absl::Status DmClient::Reprobe(const std::string& name) {
  {
    Operation op("suspend (noflush)", name);
    ASSIGN_OR_RETURN(TaskPtr dmt, op.Task(DM_DEVICE_SUSPEND));
    if (!dm_task_no_flush(dmt.get())) return op.Error(dmt.get());
    RETURN_IF_ERROR(op.Run(dmt.get(), false));
  }
  return Resume(name);
}

absl::StatusOr<bool> DmClient::Suspended(const std::string& name) {
  Operation op("info", name);
  ASSIGN_OR_RETURN(TaskPtr dmt, op.Task(DM_DEVICE_INFO));
  if (absl::Status s = op.Run(dmt.get(), false); !s.ok()) return s;
  ASSIGN_OR_RETURN(dm_info info, Info(op, dmt.get()));
  if (!info.exists) return op.NotFound();
  return info.suspended != 0;
}

absl::StatusOr<std::string> DmClient::Message(const std::string& name, uint64_t sector,
                                              const std::string& text) {
  Operation op(absl::StrCat("message \"", Abbreviate(text), "\" to"), name);
  if (text.empty()) return op.Invalid("empty message");
  ASSIGN_OR_RETURN(TaskPtr dmt, op.Task(DM_DEVICE_TARGET_MSG));
  if (!dm_task_set_sector(dmt.get(), sector) || !dm_task_set_message(dmt.get(), text.c_str())) {
    return op.Error(dmt.get());
  }
  if (absl::Status s = op.Run(dmt.get(), false); !s.ok()) return s;
  const char* response = dm_task_get_message_response(dmt.get());
  return std::string(response ? response : "");
}

absl::StatusOr<std::vector<DmLine>> DmClient::Status(const std::string& name) {
  return Lines("status", name, DM_DEVICE_STATUS);
}

absl::StatusOr<std::vector<DmLine>> DmClient::Table(const std::string& name) {
  return Lines("table", name, DM_DEVICE_TABLE);
}

absl::Status DmClient::Remove(const std::string& name) {
  Operation op("remove", name);
  ASSIGN_OR_RETURN(TaskPtr dmt, op.Task(DM_DEVICE_REMOVE));
  // A short-lived opener (blkid, a udev rule) should not fail the remove.
  if (!dm_task_retry_remove(dmt.get())) return op.Error(dmt.get());
  return op.Run(dmt.get(), true);
}

absl::StatusOr<bool> DmClient::Exists(const std::string& name) {
  Operation op("info", name);
  ASSIGN_OR_RETURN(TaskPtr dmt, op.Task(DM_DEVICE_INFO));
  if (absl::Status s = op.Run(dmt.get(), false); !s.ok()) return s;
  ASSIGN_OR_RETURN(dm_info info, Info(op, dmt.get()));
  return info.exists != 0;
}

absl::StatusOr<std::array<uint32_t, 3>> DmClient::TargetVersion(const std::string& target_type) {
  Operation op("list versions for", target_type);
  TaskPtr dmt(dm_task_create(DM_DEVICE_LIST_VERSIONS), dm_task_destroy);
  if (!dmt) return op.Error();
  if (absl::Status s = op.Run(dmt.get(), false); !s.ok()) return s;
  dm_versions* v = dm_task_get_versions(dmt.get());
  while (v != nullptr) {
    if (target_type == v->name) return std::array<uint32_t, 3>{v->version[0], v->version[1],
                                                               v->version[2]};
    if (v->next == 0) break;
    v = reinterpret_cast<dm_versions*>(reinterpret_cast<char*>(v) + v->next);
  }
  return absl::NotFoundError(absl::StrCat("device-mapper target \"", target_type,
                                          "\" is not loaded"));
}

}  // namespace cvol
