#include "widgets/matrix_csv.h"

#include <QSaveFile>

namespace moe::widgets {

bool writeMatrixCsv(const QString& path, const QString& corner, const QStringList& columns,
                    const QStringList& rows, const std::vector<int64_t>& values) {
  if (values.size() != size_t(columns.size()) * size_t(rows.size())) return false;
  QByteArray out;
  out += corner.toUtf8();
  for (const QString& c : columns)
    out += ',' + c.toUtf8();
  out += '\n';
  for (qsizetype r = 0; r < rows.size(); ++r) {
    out += rows[r].toUtf8();
    for (qsizetype c = 0; c < columns.size(); ++c)
      out += ',' + QByteArray::number(qlonglong(values[size_t(r * columns.size() + c)]));
    out += '\n';
  }
  // QSaveFile: an export interrupted half way never leaves a truncated file under the user's name.
  QSaveFile f(path);
  if (!f.open(QIODevice::WriteOnly)) return false;
  f.write(out);
  return f.commit();
}

}  // namespace moe::widgets
