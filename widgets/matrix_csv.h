// Writes a count matrix as CSV: a header row (corner label, then one label per column) and one row per matrix
// row (its label, then the counts). Plain comma-separated integers, "\n" line ends, no quoting needed since
// every label is generated here.
#pragma once

#include <QString>
#include <QStringList>
#include <cstdint>
#include <vector>

namespace moe::widgets {

bool writeMatrixCsv(const QString& path, const QString& corner, const QStringList& columns,
                    const QStringList& rows, const std::vector<int64_t>& values);

}  // namespace moe::widgets
