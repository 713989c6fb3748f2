// MainWindow (see main_window.h).
#include "studio/main_window.h"

#include <QCloseEvent>
#include <QCoreApplication>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressDialog>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTimer>
#include <QVBoxLayout>

#include "moe/model_spec.h"
#include "studio/chat_controller.h"
#include "studio/engine_worker.h"
#include "studio/model_open_dialog.h"
#include "widgets/chat_input.h"
#include "widgets/chat_view.h"
#include "widgets/model_panel.h"
#include "widgets/routing_data.h"
#include "widgets/routing_panel.h"
#include "widgets/sampling_panel.h"

namespace moe::studio {
namespace {

QString human_bytes(double n) {
  const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (n >= 1024 && u < 4) {
    n /= 1024;
    ++u;
  }
  return QString::number(n, 'f', u ? 1 : 0) + " " + unit[u];
}

// Resident memory of this process, from /proc (Linux).
qint64 resident_bytes() {
  QFile f("/proc/self/statm");
  if (!f.open(QIODevice::ReadOnly)) return 0;
  const auto fields = f.readAll().split(' ');
  return fields.size() > 1 ? fields[1].toLongLong() * 4096 : 0;
}

}  // namespace

QString MainWindow::demoModelPath() {
  // The environment, then the install layout (<prefix>/bin/.. /share/moe-studio), then the source tree.
  const QString env = qEnvironmentVariable("MOE_DEMO_MODEL");
  if (!env.isEmpty()) return env;
  const QString installed = QCoreApplication::applicationDirPath() + "/../share/moe-studio/demo-model";
  if (QFileInfo::exists(installed + "/config.json")) return QDir(installed).canonicalPath();
#ifdef MOE_SOURCE_DIR
  const QString source = QStringLiteral(MOE_SOURCE_DIR) + "/resources/demo-model";
  if (QFileInfo::exists(source + "/config.json")) return source;
#endif
  return {};
}

MainWindow::MainWindow(store::SessionStore& store, QWidget* parent) : QMainWindow(parent), store_(store) {
  register_engine_types();
  setWindowTitle(tr("MoE Studio"));
  resize(1440, 960);

  worker_ = new EngineWorker;
  worker_->moveToThread(&engine_thread_);
  connect(&engine_thread_, &QThread::finished, worker_, &QObject::deleteLater);
  engine_thread_.start();

  // Chat area.
  auto* center = new QWidget;
  auto* layout = new QVBoxLayout(center);
  layout->setContentsMargins(6, 6, 6, 6);
  chat_view_ = new widgets::ChatView;
  chat_input_ = new widgets::ChatInput;
  chat_input_->setPlaceholderText(tr("Open a model to chat (File ▸ Open Model…)"));
  layout->addWidget(chat_view_, 1);
  layout->addWidget(chat_input_);
  setCentralWidget(center);

  routing_data_ = new widgets::RoutingData(this);
  controller_ = new ChatController(store_, *worker_, *chat_view_, *routing_data_, this);
  buildDocks();
  buildMenus();

  device_label_ = new QLabel(tr("no model"));
  speed_label_ = new QLabel;
  context_label_ = new QLabel;
  memory_label_ = new QLabel;
  statusBar()->addPermanentWidget(device_label_);
  statusBar()->addPermanentWidget(speed_label_);
  statusBar()->addPermanentWidget(context_label_);
  statusBar()->addPermanentWidget(memory_label_);
  auto* memory_timer = new QTimer(this);
  connect(memory_timer, &QTimer::timeout, this, &MainWindow::updateMemory);
  memory_timer->start(1000);
  updateMemory();

  connect(chat_input_, &widgets::ChatInput::sendRequested, this, [this](const QString& text) {
    controller_->setSettings(sampling_->settings());
    controller_->send(text);
    chat_input_->setText({});
  });
  connect(chat_input_, &widgets::ChatInput::stopRequested, controller_, &ChatController::stop);
  connect(chat_view_, &widgets::ChatView::regenerateRequested, controller_, &ChatController::regenerate);
  connect(chat_view_, &widgets::ChatView::editSubmitted, controller_, &ChatController::edit);
  connect(chat_view_, &widgets::ChatView::branchRequested, controller_, &ChatController::navigateBranch);
  connect(chat_view_, &widgets::ChatView::copyRequested, controller_, &ChatController::copy);
  connect(controller_, &ChatController::generatingChanged, chat_input_, &widgets::ChatInput::setGenerating);
  connect(controller_, &ChatController::statsChanged, this, &MainWindow::onStats);
  connect(controller_, &ChatController::notice, this,
          [this](const QString& t) { statusBar()->showMessage(t, 15000); });
  connect(controller_, &ChatController::sessionChanged, this, [this](qint64 id) {
    if (id) sampling_->setSettings(controller_->sessionSettings());  // per-session values come back
    refreshSessions();
  });

  connect(worker_, &EngineWorker::loadProgress, this, [this](const QString& step, int percent) {
    if (!load_progress_) return;
    load_progress_->setLabelText(step);
    load_progress_->setValue(percent);
  });
  connect(worker_, &EngineWorker::loaded, this, &MainWindow::onLoaded);
  connect(worker_, &EngineWorker::loadFailed, this, [this](const QString& message) {
    if (load_progress_) load_progress_->reset();
    statusBar()->showMessage(tr("Loading failed: %1").arg(message), 20000);
    device_label_->setText(tr("no model"));
    emit modelLoadFailed(message);
  });
  refreshSessions();
}

MainWindow::~MainWindow() {
  worker_->requestStop();
  engine_thread_.quit();
  engine_thread_.wait();
}

void MainWindow::closeEvent(QCloseEvent* event) {
  worker_->requestStop();  // the answer in flight is finished and written before the thread stops
  QMainWindow::closeEvent(event);
}

void MainWindow::buildDocks() {
  // Sessions sidebar.
  auto* sessions = new QWidget;
  auto* sl = new QVBoxLayout(sessions);
  sl->setContentsMargins(4, 4, 4, 4);
  search_ = new QLineEdit;
  search_->setPlaceholderText(tr("Search all chats…"));
  search_->setClearButtonEnabled(true);
  session_list_ = new QListWidget;
  session_list_->setContextMenuPolicy(Qt::CustomContextMenu);
  sl->addWidget(search_);
  sl->addWidget(session_list_, 1);
  auto* sessions_dock = new QDockWidget(tr("Chats"), this);
  sessions_dock->setObjectName("chats");
  sessions_dock->setWidget(sessions);
  addDockWidget(Qt::LeftDockWidgetArea, sessions_dock);
  connect(search_, &QLineEdit::textChanged, this, &MainWindow::refreshSessions);
  connect(session_list_, &QListWidget::itemActivated, this, [this](QListWidgetItem* item) {
    if (!controller_->isGenerating()) controller_->openSession(item->data(Qt::UserRole).toLongLong());
  });
  connect(session_list_, &QListWidget::itemClicked, this, [this](QListWidgetItem* item) {
    if (!controller_->isGenerating()) controller_->openSession(item->data(Qt::UserRole).toLongLong());
  });
  connect(session_list_, &QListWidget::customContextMenuRequested, this, &MainWindow::sessionMenu);

  // Model and sampling.
  auto* tabs = new QTabWidget;
  model_panel_ = new widgets::ModelPanel;
  sampling_ = new widgets::SamplingPanel;
  sampling_->setTemplates({ChatController::kChatMlName});
  tabs->addTab(model_panel_, tr("Model"));
  tabs->addTab(sampling_, tr("Sampling"));
  auto* model_dock = new QDockWidget(tr("Model"), this);
  model_dock->setObjectName("model");
  model_dock->setWidget(tabs);
  addDockWidget(Qt::LeftDockWidgetArea, model_dock);
  splitDockWidget(sessions_dock, model_dock, Qt::Vertical);

  // Routing, under the chat (the heatmaps want width more than height).
  routing_panel_ = new widgets::RoutingPanel(routing_data_);
  auto* routing_dock = routing_dock_ = new QDockWidget(tr("Expert routing"), this);
  routing_dock->setObjectName("routing");
  routing_dock->setWidget(routing_panel_);
  addDockWidget(Qt::BottomDockWidgetArea, routing_dock);
  setCorner(Qt::BottomLeftCorner, Qt::LeftDockWidgetArea);
  resizeDocks({sessions_dock}, {300}, Qt::Horizontal);
  resizeDocks({sessions_dock, model_dock}, {330, 470}, Qt::Vertical);
  resizeDocks({routing_dock}, {430}, Qt::Vertical);
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&Open Model Folder…"), QKeySequence::Open, this, &MainWindow::openModelDialog);
  recent_menu_ = file->addMenu(tr("Recent Models"));
  file->addAction(tr("Open the &Built-in Demo Model"), this, [this] { loadModel(demoModelPath()); });
  file->addSeparator();
  file->addAction(tr("&New Chat"), QKeySequence::New, this, [this] {
    if (!controller_->isGenerating()) controller_->openSession(0);
  });
  file->addAction(tr("&Import Chats (JSONL)…"), this, [this] {
    const QString path = QFileDialog::getOpenFileName(this, tr("Import chats"), {}, tr("JSONL (*.jsonl)"));
    if (path.isEmpty()) return;
    auto result = store_.importJsonl(path);
    statusBar()->showMessage(
        result.ok() ? tr("Imported %1 chat(s).").arg(result.sessionIds.size()) : result.error, 15000);
    refreshSessions();
  });
  file->addSeparator();
  auto export_to = [this](const QString& title, const QString& filter, auto method) {
    const QString path = QFileDialog::getSaveFileName(this, title, {}, filter);
    if (!path.isEmpty() && !method(routing_panel_, path))
      statusBar()->showMessage(tr("Could not write %1").arg(path), 10000);
  };
  QMenu* exports = file->addMenu(tr("Export Routing"));
  exports->addAction(tr("Heatmap as PNG…"), this, [=] {
    export_to(
        tr("Export heatmap"), tr("PNG (*.png)"),
        +[](widgets::RoutingPanel* p, const QString& f) { return p->exportHeatmapPng(f); });
  });
  exports->addAction(tr("Heatmap as CSV…"), this, [=] {
    export_to(
        tr("Export heatmap"), tr("CSV (*.csv)"),
        +[](widgets::RoutingPanel* p, const QString& f) { return p->exportHeatmapCsv(f); });
  });
  exports->addAction(tr("Co-activation as PNG…"), this, [=] {
    export_to(
        tr("Export co-activation"), tr("PNG (*.png)"),
        +[](widgets::RoutingPanel* p, const QString& f) { return p->exportCoactivationPng(f); });
  });
  exports->addAction(tr("Co-activation as CSV…"), this, [=] {
    export_to(
        tr("Export co-activation"), tr("CSV (*.csv)"),
        +[](widgets::RoutingPanel* p, const QString& f) { return p->exportCoactivationCsv(f); });
  });
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
  refreshRecent();
}

void MainWindow::refreshRecent() {
  recent_menu_->clear();
  for (const auto& m : store_.recentModels())
    recent_menu_->addAction(m.name + "  —  " + m.path, this, [this, path = m.path] { loadModel(path); });
  recent_menu_->setEnabled(!recent_menu_->isEmpty());
}

void MainWindow::openModelDialog() {
  const QString folder = QFileDialog::getExistingDirectory(this, tr("Open a model folder"));
  if (folder.isEmpty()) return;
  // The context length sizes the KV cache and the device decides where it lives: both are asked, with the
  // memory they take, before loading.
  ModelSpec spec;
  try {
    spec = load_model_spec(folder.toStdString());
  } catch (const std::exception& e) {
    QMessageBox::warning(this, tr("Not a model folder"), QString::fromStdString(e.what()));
    return;
  }
  ModelOpenDialog dialog(folder, spec, device_, this);
  if (dialog.exec() != QDialog::Accepted) return;
  device_ = dialog.device();
  loadModel(folder, dialog.contextLength());
}

void MainWindow::loadModel(const QString& folder, qint64 context_length) {
  if (folder.isEmpty()) {
    statusBar()->showMessage(tr("The built-in demo model was not found (set MOE_DEMO_MODEL)."), 15000);
    return;
  }
  if (controller_->isGenerating()) controller_->stop();
  if (!load_progress_) {
    load_progress_ = new QProgressDialog(this);
    load_progress_->setWindowTitle(tr("Loading model"));
    load_progress_->setMinimumDuration(300);
    connect(load_progress_, &QProgressDialog::canceled, this, [this] { worker_->requestCancelLoad(); });
  }
  load_progress_->setLabelText(tr("Opening %1").arg(folder));
  load_progress_->setValue(0);
  QMetaObject::invokeMethod(worker_, "load", Qt::QueuedConnection, Q_ARG(QString, folder),
                            Q_ARG(qint64, context_length), Q_ARG(QString, device_));
}

void MainWindow::onLoaded(const LoadedModelFacts& f) {
  if (load_progress_) load_progress_->reset();
  facts_ = f;
  widgets::ModelFacts m;
  m.path = f.path;
  m.architecture = f.architecture;
  m.layers = int(f.layers);
  m.moeLayers = int(f.moe_layers);
  m.experts = int(f.experts);
  m.topK = int(f.top_k);
  m.totalParameters = f.total_parameters;
  m.activeParameters = f.active_parameters;
  m.weightBytes = f.weight_bytes;
  m.contextLength = f.context_length;
  m.kvCacheBytes = f.kv_cache_bytes;
  m.backend = f.backend.toUpper();
  m.gpuName = f.gpu_name;
  m.gpuMemoryBytes = f.gpu_memory_bytes;
  m.deviceNote = f.device_note;
  m.vramWeights = f.vram_weights;
  m.vramKvCache = f.vram_kv_cache;
  m.vramWorkspace = f.vram_workspace;
  model_panel_->setFacts(m);
  widgets::RoutingShape shape;
  shape.nLayers = int(f.moe_layers);
  shape.nExperts = int(f.experts);
  shape.topK = int(f.top_k);
  controller_->setModel(f, shape);
  store_.noteModelOpened(f.path, QFileInfo(f.path).fileName(), f.architecture);
  refreshRecent();
  chat_input_->setPlaceholderText(
      tr("Message %1 (Enter to send, Shift+Enter for a new line)").arg(QFileInfo(f.path).fileName()));
  setWindowTitle(tr("MoE Studio — %1").arg(QFileInfo(f.path).fileName()));
  device_label_->setText(tr("%1 backend \u00B7 %2").arg(f.backend.toUpper(), f.device));
  speed_label_->clear();
  device_label_->setToolTip(f.requested_device == "auto"
                                ? tr("Device: auto (CUDA when a GPU is present, else the CPU)")
                                : tr("Device: %1 (as asked)").arg(f.requested_device));
  updateMemory();
  context_label_->setText(tr("context 0 / %1").arg(f.context_length));
  if (f.default_template)
    statusBar()->showMessage(tr("This model has no chat template: using %1.").arg(f.template_name), 15000);
  emit modelLoaded();
}

void MainWindow::onStats(const GenerationSummary& s) {
  speed_label_->setText(tr("%1 tok/s (prompt %2 tok/s)")
                            .arg(s.decode_tokens_per_second, 0, 'f', 1)
                            .arg(s.prefill_tokens_per_second, 0, 'f', 0));
  context_label_->setText(tr("context %1 / %2").arg(s.context_used).arg(s.context_length));
}

void MainWindow::updateMemory() {
  // VRAM: what the backend holds on the GPU (its memory plan: weights, KV cache, workspace).
  const qint64 vram = facts_.vram_weights + facts_.vram_kv_cache + facts_.vram_workspace;
  memory_label_->setText(
      tr("RAM %1").arg(human_bytes(double(resident_bytes()))) +
      (facts_.backend == "cuda" ? tr(" \u00B7 VRAM %1").arg(human_bytes(double(vram))) : QString()));
}

void MainWindow::refreshSessions() {
  const qint64 current = controller_ ? controller_->sessionId() : 0;
  session_list_->clear();
  const QString query = search_->text().trimmed();
  auto add = [&](qint64 id, const QString& title, const QString& tip) {
    auto* item = new QListWidgetItem(title.isEmpty() ? tr("(untitled)") : title);
    item->setData(Qt::UserRole, id);
    item->setToolTip(tip);
    session_list_->addItem(item);
    if (id == current) session_list_->setCurrentItem(item);
  };
  if (query.isEmpty()) {
    for (const auto& s : store_.listSessions())
      add(s.id, s.title, s.modelPath);
    return;
  }
  auto found = store_.searchMessages(query);
  QSet<qint64> seen;
  for (const auto& hit : found.hits) {
    if (seen.contains(hit.sessionId)) continue;
    seen.insert(hit.sessionId);
    add(hit.sessionId, hit.sessionTitle, hit.snippet);
  }
}

qint64 MainWindow::selectedSession() const {
  auto* item = session_list_->currentItem();
  return item ? item->data(Qt::UserRole).toLongLong() : 0;
}

void MainWindow::sessionMenu(const QPoint& pos) {
  const qint64 id = selectedSession();
  if (!id) return;
  QMenu menu;
  menu.addAction(tr("Rename…"), this, [this, id] {
    bool ok = false;
    auto info = store_.session(id);
    const QString title = QInputDialog::getText(this, tr("Rename chat"), tr("Title:"), QLineEdit::Normal,
                                                info ? info->title : QString(), &ok);
    if (ok) {
      store_.renameSession(id, title);
      refreshSessions();
    }
  });
  menu.addAction(tr("Clone"), this, [this, id] { controller_->openSession(store_.cloneSession(id)); });
  menu.addAction(tr("Export as Markdown…"), this, [this, id] {
    const QString path = QFileDialog::getSaveFileName(this, tr("Export chat"), {}, tr("Markdown (*.md)"));
    QFile f(path);
    if (!path.isEmpty() && f.open(QIODevice::WriteOnly)) f.write(store_.exportMarkdown(id).toUtf8());
  });
  menu.addAction(tr("Export as JSONL (fine-tuning format)…"), this, [this, id] {
    const QString path = QFileDialog::getSaveFileName(this, tr("Export chat"), {}, tr("JSONL (*.jsonl)"));
    QFile f(path);
    if (!path.isEmpty() && f.open(QIODevice::WriteOnly)) f.write(store_.exportJsonl(id));
  });
  menu.addSeparator();
  menu.addAction(tr("Delete"), this, [this, id] {
    if (controller_->sessionId() == id) controller_->openSession(0);
    auto token = store_.deleteSession(id);
    refreshSessions();
    statusBar()->showMessage(tr("Chat deleted — Ctrl+Z to undo"), 10000);
    auto* undo = new QAction(this);
    undo->setShortcut(QKeySequence::Undo);
    addAction(undo);
    connect(undo, &QAction::triggered, this, [this, token, undo] {
      store_.undoDelete(token);
      refreshSessions();
      undo->deleteLater();
    });
    QTimer::singleShot(10000, undo, &QObject::deleteLater);
  });
  menu.exec(session_list_->mapToGlobal(pos));
}

}  // namespace moe::studio
