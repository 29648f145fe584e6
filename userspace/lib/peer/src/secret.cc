#include "cvol/peer/secret.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cvol/secret_file.h"

namespace cvol::peer {

absl::StatusOr<std::string> LoadClusterSecret(const std::string& path) {
  absl::StatusOr<std::string> content = ReadSecretFile(path);
  if (!content.ok()) {
    // The same code, with what the file is for: whoever reads it can
    // command every host of the cluster.
    return absl::Status(content.status().code(),
                        absl::StrCat("cluster secret ", content.status().message()));
  }
  if (content->size() < kMinSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cluster secret ", path, " holds ", content->size(), " bytes; at least ",
        kMinSecretBytes, " are needed (e.g. head -c 32 /dev/urandom | base64 > ", path, ")"));
  }
  return content;
}

}  // namespace cvol::peer
