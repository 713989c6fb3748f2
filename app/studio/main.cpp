// moe-studio: the desktop application. Opens the session database (--db, MOE_STUDIO_DB, or the XDG data
// folder) and a model (--model, or the built-in demo model).
#include <QApplication>
#include <QCommandLineParser>
#include <QMessageBox>
#include <cstdio>

#include "store/session_store.h"
#include "studio/main_window.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("moe-studio");
  QApplication::setOrganizationName("moe-studio");
  QCommandLineParser args;
  args.setApplicationDescription("MoE Studio: chat with Mixture-of-Experts models and watch their routing");
  args.addHelpOption();
  QCommandLineOption model_opt("model", "model folder to open (default: the built-in demo model)", "path");
  QCommandLineOption db_opt("db", "session database (default: $MOE_STUDIO_DB or the XDG data folder)",
                            "path");
  QCommandLineOption ctx_opt("ctx", "context length to load the model with", "tokens", "0");
  QCommandLineOption device_opt(
      "device", "where the model runs: cpu, cuda or auto (CUDA when a GPU is present)", "device", "auto");
  args.addOptions({model_opt, db_opt, ctx_opt, device_opt});
  args.process(app);
  const QString device = args.value(device_opt);
  if (device != "cpu" && device != "cuda" && device != "auto") {
    std::fprintf(stderr, "moe-studio: --device %s: choose cpu, cuda or auto\n", qPrintable(device));
    return 1;
  }

  moe::store::SessionStore store(args.isSet(db_opt) ? args.value(db_opt)
                                                    : moe::store::SessionStore::defaultPath());
  auto opened = store.open();
  if (opened.status == moe::store::OpenResult::Status::Corrupt) {
    auto answer =
        QMessageBox::question(nullptr, "MoE Studio", opened.message + "\n\nStart with a fresh database?");
    if (answer != QMessageBox::Yes) return 1;
    opened = store.open();
  }
  if (!opened.ok()) {
    QMessageBox::critical(nullptr, "MoE Studio", opened.message);
    return 1;
  }
  moe::studio::MainWindow window(store);
  window.setDevice(device);
  window.show();
  const QString model =
      args.isSet(model_opt) ? args.value(model_opt) : moe::studio::MainWindow::demoModelPath();
  window.loadModel(model, args.value(ctx_opt).toLongLong());
  return app.exec();
}
