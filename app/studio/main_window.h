// MainWindow: the studio's window. Model picker (open a folder, recent models, the built-in demo model; the
// context length chosen at load with the memory it needs shown first), model panel, chat area, sessions
// sidebar with search, the routing dock, and a status bar with tokens/s, context used and memory.
#pragma once

#include <QMainWindow>
#include <QThread>
#include <memory>

#include "store/session_store.h"
#include "studio/engine_types.h"

class QDockWidget;
class QLabel;
class QLineEdit;
class QListWidget;
class QProgressDialog;
class QMenu;

namespace moe::widgets {
class ChatView;
class ChatInput;
class SamplingPanel;
class ModelPanel;
class RoutingData;
class RoutingPanel;
}  // namespace moe::widgets

namespace moe::studio {

class EngineWorker;
class ChatController;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(store::SessionStore& store, QWidget* parent = nullptr);
  ~MainWindow() override;

  // Loads a model folder with a context length (0: the default) on the device chosen (setDevice());
  // asynchronous, see modelLoaded().
  void loadModel(const QString& folder, qint64 context_length = 0);
  // "auto" (the default: CUDA when a GPU is present, else the CPU), "cpu" or "cuda"; used by the next load.
  void setDevice(const QString& device) { device_ = device; }
  QString device() const { return device_; }
  const LoadedModelFacts& loadedFacts() const { return facts_; }
  // The built-in demo model's folder ("" when it cannot be found).
  static QString demoModelPath();

  // For tests: the parts a person interacts with.
  widgets::ChatView* chatView() const { return chat_view_; }
  widgets::ChatInput* chatInput() const { return chat_input_; }
  widgets::RoutingData* routingData() const { return routing_data_; }
  widgets::RoutingPanel* routingPanel() const { return routing_panel_; }
  QDockWidget* routingDock() const { return routing_dock_; }
  ChatController* controller() const { return controller_; }
  QListWidget* sessionList() const { return session_list_; }
  widgets::ModelPanel* modelPanel() const { return model_panel_; }
  QLabel* deviceLabel() const { return device_label_; }
  QLabel* memoryLabel() const { return memory_label_; }

 signals:
  void modelLoaded();
  void modelLoadFailed(const QString& message);

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildMenus();
  void buildDocks();
  void refreshSessions();
  void refreshRecent();
  void openModelDialog();
  void onLoaded(const LoadedModelFacts& facts);
  void onStats(const GenerationSummary& summary);
  void updateMemory();
  void sessionMenu(const QPoint& pos);
  qint64 selectedSession() const;

  store::SessionStore& store_;
  QThread engine_thread_;
  EngineWorker* worker_ = nullptr;
  ChatController* controller_ = nullptr;
  widgets::ChatView* chat_view_ = nullptr;
  widgets::ChatInput* chat_input_ = nullptr;
  widgets::SamplingPanel* sampling_ = nullptr;
  widgets::ModelPanel* model_panel_ = nullptr;
  QString device_ = QStringLiteral("auto");
  widgets::RoutingData* routing_data_ = nullptr;
  widgets::RoutingPanel* routing_panel_ = nullptr;
  QDockWidget* routing_dock_ = nullptr;
  QListWidget* session_list_ = nullptr;
  QLineEdit* search_ = nullptr;
  QMenu* recent_menu_ = nullptr;
  QLabel* device_label_ = nullptr;
  QLabel* speed_label_ = nullptr;
  QLabel* context_label_ = nullptr;
  QLabel* memory_label_ = nullptr;
  QProgressDialog* load_progress_ = nullptr;
  LoadedModelFacts facts_;
};

}  // namespace moe::studio
