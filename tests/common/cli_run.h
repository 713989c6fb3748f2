// Runs the moe-cli built with the tests (MOE_CLI_PATH) and collects its exit code and output.
#pragma once

#include <QProcess>
#include <QString>
#include <QStringList>

namespace moe::test {

struct CliRun {
  int code = -1;  // -1: crashed or timed out
  QString out, err;
};

inline CliRun run_cli(const QStringList& args, int timeout_ms = 300000) {
  QProcess p;
  p.start(MOE_CLI_PATH, args);
  if (!p.waitForFinished(timeout_ms)) p.kill();
  return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1,
          QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}

}  // namespace moe::test
