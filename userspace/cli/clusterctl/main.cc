// clusterctl: see cli.h and docs/clusterctl.md.
#include <sys/ioctl.h>
#include <unistd.h>

#include <iostream>

#include "cli.h"

int main(int argc, char** argv) {
  cvol::clusterctl::Environment env;
  env.out_is_tty = ::isatty(STDOUT_FILENO) == 1;
  winsize size{};
  if (env.out_is_tty && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    env.terminal_width = size.ws_col;
  }
  return cvol::clusterctl::RunClusterctl(argc, argv, std::cout, std::cerr, env);
}
