// clusterctl: the command line of cvol (docs/clusterctl.md). Everything but
// main() lives here so that tests can run it against a fake cvold.
#ifndef CVOL_CLUSTERCTL_CLI_H_
#define CVOL_CLUSTERCTL_CLI_H_

#include <ostream>
#include <string>
#include <vector>

namespace cvol::clusterctl {

// What main() knows about the terminal.
struct Environment {
  bool out_is_tty = false;  // redraw the progress bar in place
  int terminal_width = 80;
};

// Runs one command line (`args` without the program name) and returns the
// exit status (docs/control-protocol.md: 0 ok, 1 failed, 2 usage, 3 not
// found, 4 conflict, 5 cvold unreachable, 6 permission).
int RunClusterctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                  const Environment& env = {});
int RunClusterctl(int argc, char** argv, std::ostream& out, std::ostream& err,
                  const Environment& env = {});

// "clusterctl 0.1.0 (control protocol 1)"
std::string VersionString();

}  // namespace cvol::clusterctl

#endif  // CVOL_CLUSTERCTL_CLI_H_
