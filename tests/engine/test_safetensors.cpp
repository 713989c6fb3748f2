// Qt Test suite for engine/io: dtype names and conversions (checked against hand-computed constants and,
// where the compiler has _Float16, against it), safetensors write -> read round trips, TensorStore over
// single files, folders and sharded indexes, and every malformed file the reader must reject with a message
// that names the file and the tensor.
#include <QByteArray>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "moe/dtype.h"
#include "moe/error.h"
#include "moe/safetensors.h"

using namespace moe;

namespace {

// The moe::Error message `fn` throws, or nullopt when it returns normally. Other exceptions propagate and
// fail the test.
std::optional<std::string> error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const moe::Error& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

// True when `fn` throws a moe::Error whose message contains every one of `parts`; `why` says what went wrong.
bool throws_error(const std::function<void()>& fn, const QStringList& parts, QString& why) {
  auto msg = error_of(fn);
  if (!msg) {
    why = "no moe::Error was thrown";
    return false;
  }
  for (const QString& part : parts) {
    if (msg->find(part.toStdString()) == std::string::npos) {
      why = QString("\"%1\" does not mention \"%2\"").arg(QString::fromStdString(*msg), part);
      return false;
    }
  }
  return true;
}

// Fails the calling test unless `fn` throws a moe::Error mentioning every string of the QStringList given.
#define EXPECT_ERROR(fn, ...)                                                     \
  do {                                                                            \
    QString why_;                                                                 \
    QVERIFY2(throws_error(fn, QStringList(__VA_ARGS__), why_), qPrintable(why_)); \
  } while (0)

QByteArray le64(uint64_t v) {
  QByteArray b(8, '\0');
  for (int i = 0; i < 8; ++i)
    b[i] = char((v >> (8 * i)) & 0xff);
  return b;
}

// A safetensors file from its parts: the 8-byte little-endian length (of `header` unless given), the header,
// then `payload_size` bytes 0, 1, 2, ...
QByteArray raw_file(const QByteArray& header, qsizetype payload_size, std::optional<uint64_t> length = {}) {
  QByteArray b = le64(length.value_or(uint64_t(header.size()))) + header;
  for (qsizetype i = 0; i < payload_size; ++i)
    b.append(char(i & 0xff));
  return b;
}

QString write_bytes(const QString& path, const QByteArray& bytes) {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly) || f.write(bytes) != bytes.size())
    qFatal("cannot write %s", qPrintable(path));
  return path;
}

std::filesystem::path fs_path(const QString& p) {
  return std::filesystem::path(p.toStdString());
}

std::vector<std::byte> bytes_of(const void* p, size_t n) {
  std::vector<std::byte> v(n);
  if (n) std::memcpy(v.data(), p, n);
  return v;
}

uint32_t bits_of(float f) {
  return std::bit_cast<uint32_t>(f);
}

// A small file with one F32 tensor per name, each `elements` long, filled with `fill`.
void write_f32_file(const QString& path, const QStringList& names, int elements, float fill) {
  std::vector<std::vector<float>> data;
  std::vector<TensorToWrite> tensors;
  data.resize(size_t(names.size()), std::vector<float>(size_t(elements), fill));
  for (int i = 0; i < names.size(); ++i)
    tensors.push_back({names[i].toStdString(),
                       DType::F32,
                       {elements},
                       data[size_t(i)].data(),
                       data[size_t(i)].size() * sizeof(float)});
  write_safetensors(fs_path(path), tensors);
}

}  // namespace

class TestSafetensors : public QObject {
  Q_OBJECT

 private slots:
  void dtypeNames_data();
  void dtypeNames();
  void dtypeUnknownNames();
  void f16ToF32_data();
  void f16ToF32();
  void f32ToF16_data();
  void f32ToF16();
  void f16NaN();
  void f16AllValues();
  void f16AgainstCompiler();
  void bf16_data();
  void bf16();
  void convertToF32();

  void roundTrip();
  void writerRejects_data();
  void writerRejects();
  void writerFailureLeavesTarget();
  void manyTensors();
  void validEdgeCases_data();
  void validEdgeCases();
  void parseHeaderSpan();
  void badFiles_data();
  void badFiles();

  void storeSingleFile();
  void storeSharded();
  void storeShardedMissingTensor();
  void storeShardEscapes_data();
  void storeShardEscapes();
  void storeFolderWithoutIndex();
  void storeDuplicateAcrossFiles();
  void storeEmptyOrMissing();
};

// ---- dtypes -------------------------------------------------------------------------------------------

void TestSafetensors::dtypeNames_data() {
  QTest::addColumn<QString>("name");
  QTest::addColumn<int>("size");
  const std::pair<const char*, int> rows[] = {
      {"BOOL", 1},    {"U8", 1},      {"I8", 1},  {"U16", 2},     {"I16", 2},     {"U32", 4}, {"I32", 4},
      {"U64", 8},     {"I64", 8},     {"F16", 2}, {"BF16", 2},    {"F32", 4},     {"F64", 8}, {"F8_E4M3", 1},
      {"F8_E5M2", 1}, {"F8_E8M0", 1}, {"F4", 0},  {"F6_E2M3", 0}, {"F6_E3M2", 0}, {"C64", 8},
  };
  for (auto [name, size] : rows)
    QTest::newRow(name) << QString(name) << size;
}

void TestSafetensors::dtypeNames() {
  QFETCH(QString, name);
  QFETCH(int, size);
  auto t = dtype_from_name(name.toStdString());
  QVERIFY(t.has_value());
  QCOMPARE(QString::fromUtf8(dtype_name(*t)), name);
  QCOMPARE(int(dtype_size(*t)), size);
}

void TestSafetensors::dtypeUnknownNames() {
  for (const char* name : {"", "f32", "FP32", "float32", "BF16 ", "F8", "Q4_0"})
    QVERIFY2(!dtype_from_name(name).has_value(), name);
}

void TestSafetensors::f16ToF32_data() {
  QTest::addColumn<uint>("half");
  QTest::addColumn<float>("value");
  QTest::newRow("1.0") << 0x3C00u << 1.0f;
  QTest::newRow("-2.5") << 0xC100u << -2.5f;
  QTest::newRow("1/3") << 0x3555u << 0.333251953125f;
  QTest::newRow("max 65504") << 0x7BFFu << 65504.0f;
  QTest::newRow("smallest normal 2^-14") << 0x0400u << 0x1p-14f;
  QTest::newRow("smallest subnormal 2^-24") << 0x0001u << 0x1p-24f;
  QTest::newRow("largest subnormal") << 0x03FFu << 1023 * 0x1p-24f;
  QTest::newRow("-subnormal") << 0x8003u << -3 * 0x1p-24f;
  QTest::newRow("+0") << 0x0000u << 0.0f;
  QTest::newRow("-0") << 0x8000u << -0.0f;
  QTest::newRow("+inf") << 0x7C00u << INFINITY;
  QTest::newRow("-inf") << 0xFC00u << -INFINITY;
}

void TestSafetensors::f16ToF32() {
  QFETCH(uint, half);
  QFETCH(float, value);
  QCOMPARE(bits_of(f16_to_f32(uint16_t(half))), bits_of(value));  // bitwise: -0 and +0 differ
}

void TestSafetensors::f32ToF16_data() {
  QTest::addColumn<float>("value");
  QTest::addColumn<uint>("half");
  QTest::newRow("1.0") << 1.0f << 0x3C00u;
  QTest::newRow("-2.5") << -2.5f << 0xC100u;
  QTest::newRow("65504") << 65504.0f << 0x7BFFu;
  QTest::newRow("65519 rounds down") << 65519.0f << 0x7BFFu;
  QTest::newRow("65520 ties to inf") << 65520.0f << 0x7C00u;
  QTest::newRow("1e6 overflows") << 1e6f << 0x7C00u;
  QTest::newRow("-1e6 overflows") << -1e6f << 0xFC00u;
  QTest::newRow("inf") << INFINITY << 0x7C00u;
  QTest::newRow("-0") << -0.0f << 0x8000u;
  QTest::newRow("2^-14") << 0x1p-14f << 0x0400u;
  QTest::newRow("2^-24") << 0x1p-24f << 0x0001u;
  QTest::newRow("2^-25 ties to 0") << 0x1p-25f << 0x0000u;
  QTest::newRow("just above 2^-25") << std::nextafter(0x1p-25f, 1.0f) << 0x0001u;
  QTest::newRow("3*2^-25 ties to 2") << 3 * 0x1p-25f << 0x0002u;
  QTest::newRow("5*2^-25 ties to 2") << 5 * 0x1p-25f << 0x0002u;
  QTest::newRow("subnormal carries to normal") << 1023.5f * 0x1p-24f << 0x0400u;
  QTest::newRow("1e-10 underflows") << 1e-10f << 0x0000u;
  QTest::newRow("1+2^-11 ties to even 1.0") << 1.0f + 0x1p-11f << 0x3C00u;
  QTest::newRow("1+3*2^-11 ties to even up") << 1.0f + 3 * 0x1p-11f << 0x3C02u;
  QTest::newRow("just above tie rounds up") << 1.0f + 0x1p-11f + 0x1p-20f << 0x3C01u;
  QTest::newRow("0.1") << 0.1f << 0x2E66u;
}

void TestSafetensors::f32ToF16() {
  QFETCH(float, value);
  QFETCH(uint, half);
  QCOMPARE(uint(f32_to_f16(value)), half);
}

void TestSafetensors::f16NaN() {
  QVERIFY(std::isnan(f16_to_f32(0x7E00)));
  QVERIFY(std::isnan(f16_to_f32(0x7C01)));  // signalling pattern is still a NaN
  QVERIFY(std::signbit(f16_to_f32(0xFE00)));
  for (float nan : {NAN, -NAN, std::bit_cast<float>(0x7f800001u)}) {
    uint16_t h = f32_to_f16(nan);
    QVERIFY((h & 0x7C00u) == 0x7C00u && (h & 0x03FFu) != 0);  // NaN, never inf
    QCOMPARE(bool(h & 0x8000u), std::signbit(nan));
  }
}

// Every half converts to a float that converts back to the same half, one at a time and through the
// vectorised block conversion (from an unaligned source).
void TestSafetensors::f16AllValues() {
  std::vector<unsigned char> src(2 * 65536 + 1);
  for (uint32_t h = 0; h < 65536; ++h) {
    uint16_t v = uint16_t(h);
    std::memcpy(src.data() + 1 + 2 * h, &v, 2);
  }
  std::vector<float> out(65536);
  convert_to_f32(DType::F16, src.data() + 1, out.data(), out.size());
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = f16_to_f32(uint16_t(h));
    QCOMPARE(bits_of(out[h]), bits_of(f));
    bool is_nan = (h & 0x7C00u) == 0x7C00u && (h & 0x03FFu) != 0;
    QCOMPARE(bool(std::isnan(f)), is_nan);
    if (!is_nan) QCOMPARE(uint(f32_to_f16(f)), uint(h));
  }
}

// Rounding of arbitrary floats against the compiler's own float -> _Float16 conversion (IEEE, nearest even).
void TestSafetensors::f16AgainstCompiler() {
#if defined(__FLT16_MANT_DIG__)
  std::mt19937 rng(12345);
  for (int i = 0; i < 2000000; ++i) {
    // Mostly exponents in and around the half range, where rounding decisions happen.
    uint32_t bits = rng();
    if (i % 2) bits = (bits & 0x807FFFFFu) | (uint32_t(100 + rng() % 45) << 23);
    float f = std::bit_cast<float>(bits);
    if (std::isnan(f)) continue;
    uint16_t want = std::bit_cast<uint16_t>(static_cast<_Float16>(f));
    if (f32_to_f16(f) != want)
      QFAIL(qPrintable(QString("f32_to_f16(%1 = 0x%2) = 0x%3, want 0x%4")
                           .arg(double(f))
                           .arg(bits, 8, 16, QChar('0'))
                           .arg(f32_to_f16(f), 4, 16, QChar('0'))
                           .arg(want, 4, 16, QChar('0'))));
  }
#else
  QSKIP("the compiler has no _Float16");
#endif
}

void TestSafetensors::bf16_data() {
  QTest::addColumn<float>("value");
  QTest::addColumn<uint>("bf16");
  QTest::newRow("1.0") << 1.0f << 0x3F80u;
  QTest::newRow("-2.5") << -2.5f << 0xC020u;
  QTest::newRow("inf") << INFINITY << 0x7F80u;
  QTest::newRow("1+2^-8 ties to even 1.0") << 1.0f + 0x1p-8f << 0x3F80u;
  QTest::newRow("1+3*2^-8 ties to even up") << 1.0f + 3 * 0x1p-8f << 0x3F82u;
  QTest::newRow("just above tie") << 1.0f + 0x1p-8f + 0x1p-16f << 0x3F81u;
}

void TestSafetensors::bf16() {
  QFETCH(float, value);
  QFETCH(uint, bf16);
  QCOMPARE(uint(f32_to_bf16(value)), bf16);
  float back = bf16_to_f32(uint16_t(bf16));
  QCOMPARE(uint(f32_to_bf16(back)), bf16);
  QVERIFY(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

void TestSafetensors::convertToF32() {
  const float f32[3] = {1.5f, -0.0f, 65504.0f};
  const uint16_t bf16[3] = {0x3F80, 0xC020, 0x0001};
  const uint16_t f16[3] = {0x3C00, 0xC100, 0x0001};
  float out[3];
  convert_to_f32(DType::F32, f32, out, 3);
  QCOMPARE(bytes_of(out, sizeof out), bytes_of(f32, sizeof f32));
  convert_to_f32(DType::BF16, bf16, out, 3);
  QCOMPARE(out[0], 1.0f);
  QCOMPARE(out[1], -2.5f);
  QCOMPARE(bits_of(out[2]), 0x00010000u);
  convert_to_f32(DType::F16, f16, out, 3);
  QCOMPARE(out[0], 1.0f);
  QCOMPARE(out[1], -2.5f);
  QCOMPARE(out[2], 0x1p-24f);
  convert_to_f32(DType::BF16, bf16, out, 0);  // nothing to do, no error
  const int64_t ints[1] = {1};
  EXPECT_ERROR([&] { convert_to_f32(DType::I64, ints, out, 1); }, QStringList{"I64"});
}

// ---- writer and reader --------------------------------------------------------------------------------

void TestSafetensors::roundTrip() {
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const auto path = fs_path(dir.filePath("model.safetensors"));

  std::vector<float> f32 = {1.0f, -2.0f, 3.5f, 0.0f, 1e-30f, 65504.0f};
  std::vector<uint16_t> bf16 = {f32_to_bf16(1.0f), f32_to_bf16(-2.5f), f32_to_bf16(0.1f), 0x7F80};
  std::vector<uint16_t> f16 = {f32_to_f16(1.0f), f32_to_f16(-2.5f), f32_to_f16(0.1f), 0x0001};
  std::vector<int64_t> i64 = {1, -1, INT64_MAX};
  std::vector<uint8_t> u8 = {0, 1, 2, 254, 255};
  const std::vector<TensorToWrite> tensors = {
      {"model.embed.weight", DType::F32, {2, 3}, f32.data(), f32.size() * 4},
      {"layers.0.bf16", DType::BF16, {2, 2}, bf16.data(), bf16.size() * 2},
      {"layers.0.f16", DType::F16, {4}, f16.data(), f16.size() * 2},
      {"empty", DType::F32, {0, 4}, nullptr, 0},
      {"ids", DType::I64, {3}, i64.data(), i64.size() * 8},
      {"bytes", DType::U8, {5}, u8.data(), u8.size()},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "héllo ✓"}};
  write_safetensors(path, tensors, metadata);

  // The layout the reference writer produces: __metadata__ first, entries in order, padding with spaces.
  QFile raw(dir.filePath("model.safetensors"));
  QVERIFY(raw.open(QIODevice::ReadOnly));
  const QByteArray bytes = raw.readAll();
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | uint8_t(bytes[i]);
  QCOMPARE(n % 8, uint64_t(0));
  const QByteArray header = bytes.mid(8, qsizetype(n));
  QVERIFY(header.startsWith("{\"__metadata__\":{\"format\":\"pt\","));
  QVERIFY(header.indexOf("\"model.embed.weight\"") < header.indexOf("\"layers.0.bf16\""));
  QVERIFY(header.indexOf("\"ids\"") < header.indexOf("\"bytes\""));
  QVERIFY(header.trimmed().endsWith('}'));
  QCOMPARE(header.mid(header.lastIndexOf('}') + 1),
           QByteArray(header.size() - header.lastIndexOf('}') - 1, ' '));
  QVERIFY(header.contains(R"("model.embed.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})"));

  SafetensorsFile file(path);
  QCOMPARE(file.metadata(), metadata);
  QCOMPARE(file.tensors().size(), tensors.size());
  size_t total = 0;
  const std::byte* expected_data = reinterpret_cast<const std::byte*>(bytes.constData()) + 8 + n;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorView& v = file.tensors()[i];
    QCOMPARE(v.name, tensors[i].name);
    QCOMPARE(v.dtype, tensors[i].dtype);
    QCOMPARE(v.shape, tensors[i].shape);
    QCOMPARE(v.nbytes, tensors[i].nbytes);
    QCOMPARE(v.file, path.string());
    QCOMPARE(bytes_of(v.data, v.nbytes), bytes_of(tensors[i].data, tensors[i].nbytes));
    QCOMPARE(bytes_of(v.data, v.nbytes), bytes_of(expected_data + total, v.nbytes));
    QVERIFY(file.find(v.name) == &v);
    total += v.nbytes;
  }
  QCOMPARE(uint64_t(bytes.size()), 8 + n + total);
  QCOMPARE(file.find("empty")->numel(), int64_t(0));
  QCOMPARE(file.find("model.embed.weight")->numel(), int64_t(6));
  QVERIFY(file.find("nope") == nullptr);
  QCOMPARE(file.tensors()[0].describe(), std::string("model.embed.weight [2, 3] F32 in model.safetensors"));

  // Writing again replaces the file whole and leaves no temporary file behind.
  write_safetensors(path, std::span(tensors).first(1));
  QCOMPARE(SafetensorsFile(path).tensors().size(), size_t(1));
  QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden), QStringList{"model.safetensors"});
}

void TestSafetensors::writerRejects_data() {
  QTest::addColumn<int>("which");
  QTest::addColumn<QStringList>("parts");
  QTest::newRow("too few bytes") << 0 << QStringList{"out.safetensors", "w", "24 bytes", "20 bytes"};
  QTest::newRow("duplicate name") << 1 << QStringList{"out.safetensors", "w", "twice"};
  QTest::newRow("negative dimension") << 2 << QStringList{"out.safetensors", "w", "negative"};
  QTest::newRow("null data") << 3 << QStringList{"out.safetensors", "w", "no data"};
  QTest::newRow("reserved name") << 4 << QStringList{"out.safetensors", "__metadata__"};
}

void TestSafetensors::writerRejects() {
  QFETCH(int, which);
  QFETCH(QStringList, parts);
  QTemporaryDir dir;
  std::vector<float> data(6);
  std::vector<TensorToWrite> t;
  switch (which) {
    case 0:
      t = {{"w", DType::F32, {2, 3}, data.data(), 20}};
      break;
    case 1:
      t = {{"w", DType::F32, {6}, data.data(), 24}, {"w", DType::F32, {6}, data.data(), 24}};
      break;
    case 2:
      t = {{"w", DType::F32, {-1}, data.data(), 0}};
      break;
    case 3:
      t = {{"w", DType::F32, {6}, nullptr, 24}};
      break;
    case 4:
      t = {{"__metadata__", DType::F32, {6}, data.data(), 24}};
      break;
  }
  EXPECT_ERROR([&] { write_safetensors(fs_path(dir.filePath("out.safetensors")), t); }, parts);
  QVERIFY(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden).isEmpty());
}

// A write that fails (here: rename onto a folder) leaves neither a temporary file nor a changed target; a
// rejected write leaves an existing target as it was.
void TestSafetensors::writerFailureLeavesTarget() {
  QTemporaryDir dir;
  QVERIFY(QDir(dir.path()).mkdir("taken.safetensors"));
  float x[2] = {1, 2};
  std::vector<TensorToWrite> t = {{"x", DType::F32, {2}, x, 8}};
  EXPECT_ERROR([&] { write_safetensors(fs_path(dir.filePath("taken.safetensors")), t); },
               QStringList{"taken.safetensors", "rename"});
  QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden), QStringList{});

  const auto good = fs_path(dir.filePath("good.safetensors"));
  write_safetensors(good, t);
  QFile f(dir.filePath("good.safetensors"));
  QVERIFY(f.open(QIODevice::ReadOnly));
  const QByteArray before = f.readAll();
  f.close();
  t[0].nbytes = 4;
  EXPECT_ERROR([&] { write_safetensors(good, t); }, QStringList{"good.safetensors", "x"});
  QVERIFY(f.open(QIODevice::ReadOnly));
  QCOMPARE(f.readAll(), before);
  QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden), QStringList{"good.safetensors"});
}

// 200k entries (a 13 MB header, and an index listing them all) write and read back in order within seconds:
// nothing along the way may be quadratic in the number of tensors (nlohmann::ordered_json inserts in linear
// time, for one, and its parser callback rescans the parent object at every object end).
void TestSafetensors::manyTensors() {
  QTemporaryDir dir;
  const auto path = fs_path(dir.filePath("many.safetensors"));
  constexpr int kCount = 200000;
  std::vector<uint8_t> data(kCount);
  for (int i = 0; i < kCount; ++i)
    data[size_t(i)] = uint8_t(i * 7);
  std::vector<TensorToWrite> tensors;
  for (int i = 0; i < kCount; ++i)  // names in descending order, so file order differs from sorted order
    tensors.push_back({"t" + std::to_string(kCount - i), DType::U8, {1}, &data[size_t(i)], 1});
  QElapsedTimer timer;
  timer.start();
  write_safetensors(path, tensors);
  SafetensorsFile file(path);
  QCOMPARE(file.tensors().size(), size_t(kCount));
  for (int i : {0, 1, kCount / 2, kCount - 1})
    QCOMPARE(file.tensors()[size_t(i)].name, tensors[size_t(i)].name);

  QByteArray index = R"({"weight_map":{)";
  for (int i = 0; i < kCount; ++i)
    index +=
        (i ? ",\"" : "\"") + QByteArray::fromStdString(tensors[size_t(i)].name) + R"(":"many.safetensors")";
  write_bytes(dir.filePath("model.safetensors.index.json"), index + "}}");
  TensorStore store(fs_path(dir.path()));
  QCOMPARE(store.total_bytes(), size_t(kCount));
  QCOMPARE(store.names().size(), size_t(kCount));
  QCOMPARE(uint8_t(*store.get("t1").data), data.back());  // the last one written
  QVERIFY2(timer.elapsed() < 20000, qPrintable(QString("took %1 ms").arg(timer.elapsed())));
}

void TestSafetensors::validEdgeCases_data() {
  QTest::addColumn<QByteArray>("file");
  QTest::addColumn<int>("tensors");
  QTest::addColumn<int>("metadata");
  QTest::newRow("empty header") << raw_file("{}", 0) << 0 << 0;
  QTest::newRow("padded with spaces") << raw_file("{}      ", 0) << 0 << 0;
  QTest::newRow("metadata only") << raw_file(R"({"__metadata__":{"a":"b","c":""}})", 0) << 0 << 2;
  QTest::newRow("scalar") << raw_file(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})", 4) << 1
                          << 0;
  QTest::newRow("zero-size tensors on seams")
      << raw_file(R"({"z0":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                  R"("a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                  R"("z2":{"dtype":"I64","shape":[3,0],"data_offsets":[2,2]},)"
                  R"("z2b":{"dtype":"BF16","shape":[0,5],"data_offsets":[2,2]},)"
                  R"("b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]},)"
                  R"("zend":{"dtype":"F16","shape":[0],"data_offsets":[3,3]}})",
                  3)
      << 6 << 0;
  QTest::newRow("entries out of offset order")
      << raw_file(R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},)"
                  R"("a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})",
                  4)
      << 2 << 0;
  QTest::newRow("sub-byte F4") << raw_file(R"({"q":{"dtype":"F4","shape":[2,2],"data_offsets":[0,2]}})", 2)
                               << 1 << 0;
  QTest::newRow("F6 whole bytes") << raw_file(R"({"q":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[0,3]}})",
                                              3)
                                  << 1 << 0;
  QTest::newRow("zero-size huge dims")
      << raw_file(R"({"z":{"dtype":"F64","shape":[0,9223372036854775807],"data_offsets":[0,0]}})", 0) << 1
      << 0;
  QTest::newRow("-0 is zero") << raw_file(R"({"z":{"dtype":"F32","shape":[-0],"data_offsets":[-0,0]}})", 0)
                              << 1 << 0;
  QTest::newRow("unaligned data start")
      << raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4) << 1 << 0;
}

void TestSafetensors::validEdgeCases() {
  QFETCH(QByteArray, file);
  QFETCH(int, tensors);
  QFETCH(int, metadata);
  QTemporaryDir dir;
  const auto path = fs_path(write_bytes(dir.filePath("ok.safetensors"), file));
  SafetensorsFile f(path);
  QCOMPARE(int(f.tensors().size()), tensors);
  QCOMPARE(int(f.metadata().size()), metadata);
  // Views keep header order and point inside the mapping.
  for (const auto& t : f.tensors()) {
    QVERIFY(t.data != nullptr);
    if (dtype_size(t.dtype)) QCOMPARE(size_t(t.numel()) * dtype_size(t.dtype), t.nbytes);
  }
  if (QByteArray(QTest::currentDataTag()) == "entries out of offset order") {
    QCOMPARE(f.tensors()[0].name, std::string("b"));
    QCOMPARE(f.tensors()[1].data - f.tensors()[0].data, std::ptrdiff_t(-2));
  }
}

// parse_header on a span: with the whole file the views point into it, with the header alone they are null.
void TestSafetensors::parseHeaderSpan() {
  const QByteArray file = raw_file(R"({"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})", 3);
  auto* p = reinterpret_cast<const std::byte*>(file.constData());
  std::vector<TensorView> tensors;
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;
  SafetensorsFile::parse_header({p, size_t(file.size())}, uint64_t(file.size()), "mem", {}, tensors, metadata,
                                data_start);
  QCOMPARE(data_start, uint64_t(file.size() - 3));
  QCOMPARE(tensors.size(), size_t(1));
  QCOMPARE(tensors[0].data, p + data_start);
  QCOMPARE(tensors[0].file, std::string("mem"));
  SafetensorsFile::parse_header({p, size_t(data_start)}, uint64_t(file.size()), "mem", {}, tensors, metadata,
                                data_start);
  QVERIFY(tensors[0].data == nullptr);
  EXPECT_ERROR(
      [&] {
        SafetensorsFile::parse_header({p, 12}, uint64_t(file.size()), "mem", {}, tensors, metadata,
                                      data_start);
      },
      QStringList{"mem", "exceeds the 12 bytes"});
}

void TestSafetensors::badFiles_data() {
  QTest::addColumn<QByteArray>("file");
  QTest::addColumn<qulonglong>("limit");   // max_header_bytes, 0 for the default
  QTest::addColumn<QStringList>("parts");  // what the message must mention besides the file name

  auto entry = [](const char* name, const char* dtype, const char* shape, const char* offsets) {
    return QByteArray("\"") + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
           ",\"data_offsets\":" + offsets + "}";
  };
  auto header = [](std::initializer_list<QByteArray> entries) {
    QByteArrayList list(entries);
    return "{" + list.join(',') + "}";
  };
  const QByteArray w4 = header({entry("w", "F32", "[1]", "[0,4]")});

  QTest::newRow("empty file") << QByteArray() << 0ull << QStringList{"0 bytes", "shorter than"};
  QTest::newRow("truncated length") << QByteArray("\x05\x00\x00", 3) << 0ull << QStringList{"3 bytes"};
  QTest::newRow("length beyond file")
      << raw_file("{}", 8, 1000) << 0ull << QStringList{"header length 1000 exceeds the file (18 bytes)"};
  QTest::newRow("length 2^64-1") << raw_file("{}", 0, UINT64_MAX) << 0ull
                                 << QStringList{"18446744073709551615"};
  QTest::newRow("length zero") << raw_file("{}", 0, 0) << 0ull << QStringList{"header length is 0"};
  QTest::newRow("over the cap") << raw_file(w4, 4) << 16ull << QStringList{"exceeds the limit of 16 bytes"};
  QTest::newRow("non-UTF-8") << raw_file("{\"w\xff\":{}}", 0) << 0ull << QStringList{"not valid UTF-8"};
  QTest::newRow("overlong UTF-8") << raw_file("{\"\xc0\xaf\":{}}", 0) << 0ull
                                  << QStringList{"not valid UTF-8"};
  QTest::newRow("UTF-8 surrogate") << raw_file("{\"\xed\xa0\x80\":{}}", 0) << 0ull << QStringList{"UTF-8"};
  QTest::newRow("escaped lone surrogate")
      << raw_file(R"({"\ud800":{}})", 0) << 0ull << QStringList{"not valid JSON"};
  QTest::newRow("invalid JSON") << raw_file(R"({"w":{"dtype":"F32",)", 0) << 0ull
                                << QStringList{"not valid JSON"};
  QTest::newRow("trailing garbage") << raw_file("{} x", 0) << 0ull << QStringList{"not valid JSON"};
  QTest::newRow("NUL padding") << raw_file(QByteArray("{}\0\0", 4), 0) << 0ull
                               << QStringList{"NUL byte at 2"};
  QTest::newRow("NUL then more JSON")
      << raw_file(QByteArray("{}\0{\"a\":1}", 11), 0) << 0ull << QStringList{"NUL"};
  QTest::newRow("number overflow") << raw_file(
                                          R"({"w":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}})", 4)
                                   << 0ull << QStringList{"not valid JSON"};
  QTest::newRow("not an object") << raw_file("[1,2]", 0) << 0ull << QStringList{"not a JSON object"};
  QTest::newRow("entry not an object")
      << raw_file(R"({"w":5})", 0) << 0ull << QStringList{"tensor w", "object"};
  QTest::newRow("unknown dtype") << raw_file(header({entry("w", "F17", "[1]", "[0,4]")}), 4) << 0ull
                                 << QStringList{"tensor w", "\"F17\""};
  QTest::newRow("lower-case dtype") << raw_file(header({entry("w", "f32", "[1]", "[0,4]")}), 4) << 0ull
                                    << QStringList{"tensor w", "unknown dtype"};
  QTest::newRow("dtype not a string") << raw_file(R"({"w":{"dtype":1,"shape":[1],"data_offsets":[0,4]}})", 4)
                                      << 0ull << QStringList{"tensor w", "dtype"};
  QTest::newRow("negative shape") << raw_file(header({entry("w", "F32", "[-1]", "[0,4]")}), 4) << 0ull
                                  << QStringList{"tensor w", "shape[0] = -1"};
  QTest::newRow("fractional shape") << raw_file(header({entry("w", "F32", "[2,1.5]", "[0,4]")}), 4) << 0ull
                                    << QStringList{"tensor w", "shape[1]"};
  QTest::newRow("shape not an array")
      << raw_file(header({entry("w", "F32", "4", "[0,4]")}), 4) << 0ull << QStringList{"tensor w", "shape"};
  QTest::newRow("missing data_offsets") << raw_file(R"({"w":{"dtype":"F32","shape":[1]}})", 0) << 0ull
                                        << QStringList{"tensor w", "data_offsets"};
  QTest::newRow("unexpected key")
      << raw_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}})", 4) << 0ull
      << QStringList{"tensor w", "\"extra\""};
  QTest::newRow("three offsets") << raw_file(header({entry("w", "F32", "[1]", "[0,4,4]")}), 4) << 0ull
                                 << QStringList{"tensor w", "data_offsets"};
  QTest::newRow("negative offset") << raw_file(header({entry("w", "F32", "[1]", "[-4,0]")}), 4) << 0ull
                                   << QStringList{"tensor w", "data_offsets"};
  QTest::newRow("offsets reversed") << raw_file(header({entry("w", "F32", "[0]", "[4,0]")}), 4) << 0ull
                                    << QStringList{"tensor w", "end before they begin"};
  QTest::newRow("overlapping offsets")
      << raw_file(header({entry("a", "F32", "[2]", "[0,8]"), entry("b", "F32", "[2]", "[4,12]")}), 12) << 0ull
      << QStringList{"tensor b", "overlaps tensor a"};
  QTest::newRow("zero-size inside another")
      << raw_file(header({entry("a", "F32", "[2]", "[0,8]"), entry("z", "F32", "[0]", "[4,4]")}), 8) << 0ull
      << QStringList{"tensor z", "overlaps tensor a"};
  QTest::newRow("same offsets twice")
      << raw_file(header({entry("a", "F32", "[1]", "[0,4]"), entry("b", "F32", "[1]", "[0,4]")}), 4) << 0ull
      << QStringList{"tensor b", "overlaps tensor a"};
  QTest::newRow("hole between tensors")
      << raw_file(header({entry("a", "F32", "[1]", "[0,4]"), entry("b", "F32", "[1]", "[8,12]")}), 12) << 0ull
      << QStringList{"tensor b", "hole of 4 bytes", "after tensor a"};
  QTest::newRow("hole at the start") << raw_file(header({entry("a", "F32", "[1]", "[4,8]")}), 8) << 0ull
                                     << QStringList{"tensor a", "hole of 4 bytes at the start"};
  QTest::newRow("offsets beyond the file") << raw_file(header({entry("w", "F32", "[2]", "[0,8]")}), 4) << 0ull
                                           << QStringList{"tensor w", "[0, 8]", "holds only 4 bytes"};
  QTest::newRow("offsets near 2^64")
      << raw_file(header({entry("w", "U8", "[1]", "[18446744073709551614,18446744073709551615]")}), 4) << 0ull
      << QStringList{"tensor w", "holds only 4 bytes"};
  QTest::newRow("data not fully covered")
      << raw_file(w4, 8) << 0ull << QStringList{"cover 4 of the 8 bytes", "not fully covered"};
  QTest::newRow("no tensors but data") << raw_file("{}", 4) << 0ull << QStringList{"cover 0 of the 4 bytes"};
  QTest::newRow("wrong byte size") << raw_file(header({entry("w", "F32", "[3]", "[0,8]")}), 8) << 0ull
                                   << QStringList{"tensor w", "12 bytes", "span 8 bytes"};
  QTest::newRow("sub-byte not whole bytes") << raw_file(header({entry("w", "F4", "[3]", "[0,2]")}), 2) << 0ull
                                            << QStringList{"tensor w", "not a whole number of bytes"};
  QTest::newRow("duplicate names")
      << raw_file(header({entry("w", "F32", "[1]", "[0,4]"), entry("w", "F32", "[1]", "[4,8]")}), 8) << 0ull
      << QStringList{"\"w\" twice"};
  QTest::newRow("duplicate key in entry")
      << raw_file(R"({"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", 4) << 0ull
      << QStringList{"\"dtype\" twice"};
  QTest::newRow("shape product overflow")
      << raw_file(header({entry("w", "F32", "[4294967296,4294967296,16]", "[0,0]")}), 0) << 0ull
      << QStringList{"tensor w", "overflows"};
  QTest::newRow("dimension beyond int64")
      << raw_file(header({entry("w", "U8", "[9223372036854775808,0]", "[0,0]")}), 0) << 0ull
      << QStringList{"tensor w", "overflows"};
  QTest::newRow("byte size overflow")
      << raw_file(header({entry("w", "F64", "[4611686018427387904]", "[0,0]")}), 0) << 0ull
      << QStringList{"tensor w", "overflows"};
  QTest::newRow("metadata not an object")
      << raw_file(R"({"__metadata__":["a"]})", 0) << 0ull << QStringList{"__metadata__"};
  QTest::newRow("metadata value not a string")
      << raw_file(R"({"__metadata__":{"k":1}})", 0) << 0ull << QStringList{"__metadata__", "\"k\""};
  QTest::newRow("nested too deep") << raw_file(header({entry("w", "F32", "[[1]]", "[0,4]")}), 4) << 0ull
                                   << QStringList{"nests deeper than 3"};
  QTest::newRow("array bomb") << raw_file(QByteArray(100000, '[') + QByteArray(100000, ']'), 0) << 0ull
                              << QStringList{"nests deeper"};
}

void TestSafetensors::badFiles() {
  QFETCH(QByteArray, file);
  QFETCH(qulonglong, limit);
  QFETCH(QStringList, parts);
  QTemporaryDir dir;
  const auto path = fs_path(write_bytes(dir.filePath("bad-input.safetensors"), file));
  SafetensorsLimits limits;
  if (limit) limits.max_header_bytes = limit;
  EXPECT_ERROR([&] { SafetensorsFile f(path, limits); }, QStringList{"bad-input.safetensors"} + parts);
}

// ---- TensorStore --------------------------------------------------------------------------------------

void TestSafetensors::storeSingleFile() {
  QTemporaryDir dir;
  const QString file = dir.filePath("one.safetensors");
  write_f32_file(file, {"a", "b"}, 3, 1.0f);
  TensorStore store(fs_path(file));
  QCOMPARE(store.names(), (std::vector<std::string>{"a", "b"}));
  QCOMPARE(store.total_bytes(), size_t(24));
  QCOMPARE(store.get("b").shape, std::vector<int64_t>{3});
  QCOMPARE(store.root(), fs_path(file));
  EXPECT_ERROR([&] { store.get("c"); }, QStringList{"tensor c is missing from", "one.safetensors"});
}

void TestSafetensors::storeSharded() {
  QTemporaryDir dir;
  write_f32_file(dir.filePath("model-00001-of-00002.safetensors"), {"a", "b"}, 2, 1.0f);
  write_f32_file(dir.filePath("model-00002-of-00002.safetensors"), {"c"}, 4, 2.0f);
  write_f32_file(dir.filePath("model.safetensors"), {"decoy"}, 1, 0.0f);  // the index wins over this
  write_bytes(dir.filePath("model.safetensors.index.json"),
              R"({"metadata":{"total_size":32},"weight_map":{"a":"model-00001-of-00002.safetensors",)"
              R"("b":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}})");
  TensorStore store(fs_path(dir.path()));
  QCOMPARE(store.names(), (std::vector<std::string>{"a", "b", "c"}));
  QCOMPARE(store.total_bytes(), size_t(32));
  const TensorView& c = store.get("c");
  QVERIFY(QString::fromStdString(c.file).endsWith("model-00002-of-00002.safetensors"));
  float values[4];
  convert_to_f32(c.dtype, c.data, values, 4);
  QCOMPARE(values[3], 2.0f);
  QVERIFY(store.find("decoy") == nullptr);
  EXPECT_ERROR([&] { store.get("zzz"); }, QStringList{"tensor zzz is missing from " + dir.path()});
}

void TestSafetensors::storeShardedMissingTensor() {
  QTemporaryDir dir;
  write_f32_file(dir.filePath("s1.safetensors"), {"a"}, 2, 1.0f);
  write_f32_file(dir.filePath("s2.safetensors"), {"c", "d"}, 2, 1.0f);
  write_bytes(dir.filePath("model.safetensors.index.json"),
              R"({"weight_map":{"a":"s1.safetensors","lost":"s1.safetensors","c":"s2.safetensors"}})");
  EXPECT_ERROR([&] { TensorStore store(fs_path(dir.path())); },
               (QStringList{"model.safetensors.index.json", "tensor lost", "s1.safetensors"}));
  // Present, but in another shard than the index says.
  write_bytes(dir.filePath("model.safetensors.index.json"),
              R"({"weight_map":{"a":"s1.safetensors","c":"s1.safetensors","d":"s2.safetensors"}})");
  EXPECT_ERROR([&] { TensorStore store(fs_path(dir.path())); },
               (QStringList{"model.safetensors.index.json",
                            "tensor c is mapped to s1.safetensors, but s1.safetensors has no such tensor"}));
}

void TestSafetensors::storeShardEscapes_data() {
  QTest::addColumn<QByteArray>("index");
  QTest::addColumn<QStringList>("parts");
  QTest::newRow("parent folder") << QByteArray(R"({"weight_map":{"a":"../s1.safetensors"}})")
                                 << QStringList{"tensor a", "../s1.safetensors", "not a file name"};
  QTest::newRow("absolute path") << QByteArray(R"({"weight_map":{"a":"/etc/passwd"}})")
                                 << QStringList{"tensor a", "not a file name"};
  QTest::newRow("dot dot") << QByteArray(R"({"weight_map":{"a":".."}})") << QStringList{"not a file name"};
  QTest::newRow("no weight_map") << QByteArray(R"({"metadata":{}})") << QStringList{"weight_map"};
  QTest::newRow("empty weight_map") << QByteArray(R"({"weight_map":{}})") << QStringList{"no tensors"};
  QTest::newRow("shard not a string") << QByteArray(R"({"weight_map":{"a":3}})") << QStringList{"tensor a"};
  QTest::newRow("invalid JSON") << QByteArray(R"({"weight_map":)") << QStringList{"not valid JSON"};
  QTest::newRow("duplicate tensor") << QByteArray(
                                           R"({"weight_map":{"a":"s1.safetensors","a":"s1.safetensors"}})")
                                    << QStringList{"\"a\" twice"};
  QTest::newRow("missing shard") << QByteArray(R"({"weight_map":{"a":"gone.safetensors"}})")
                                 << QStringList{"gone.safetensors", "No such file", "a shard listed in"};
}

void TestSafetensors::storeShardEscapes() {
  QFETCH(QByteArray, index);
  QFETCH(QStringList, parts);
  QTemporaryDir dir;
  write_f32_file(dir.filePath("s1.safetensors"), {"a"}, 2, 1.0f);
  write_bytes(dir.filePath("model.safetensors.index.json"), index);
  parts.prepend("model.safetensors.index.json");
  EXPECT_ERROR([&] { TensorStore store(fs_path(dir.path())); }, parts);
}

void TestSafetensors::storeFolderWithoutIndex() {
  QTemporaryDir dir;
  write_f32_file(dir.filePath("b.safetensors"), {"y"}, 1, 1.0f);
  write_f32_file(dir.filePath("a.safetensors"), {"x"}, 2, 1.0f);
  write_bytes(dir.filePath("notes.txt"), "not a model");
  TensorStore all(fs_path(dir.path()));
  QCOMPARE(all.names(), (std::vector<std::string>{"x", "y"}));
  QCOMPARE(all.total_bytes(), size_t(12));

  write_f32_file(dir.filePath("model.safetensors"), {"m"}, 1, 1.0f);
  TensorStore model(fs_path(dir.path()));
  QCOMPARE(model.names(), std::vector<std::string>{"m"});
}

void TestSafetensors::storeDuplicateAcrossFiles() {
  QTemporaryDir dir;
  write_f32_file(dir.filePath("a.safetensors"), {"x", "shared"}, 1, 1.0f);
  write_f32_file(dir.filePath("b.safetensors"), {"shared"}, 1, 1.0f);
  EXPECT_ERROR([&] { TensorStore store(fs_path(dir.path())); },
               (QStringList{"tensor shared", "a.safetensors", "b.safetensors"}));
}

void TestSafetensors::storeEmptyOrMissing() {
  QTemporaryDir dir;
  EXPECT_ERROR([&] { TensorStore store(fs_path(dir.path())); },
               QStringList{dir.path() + " holds no .safetensors file"});
  EXPECT_ERROR([&] { TensorStore store(fs_path(dir.filePath("nowhere"))); },
               QStringList{"nowhere", "does not exist"});
  write_bytes(dir.filePath("broken.safetensors"), raw_file("{", 0));
  EXPECT_ERROR([&] { TensorStore store(fs_path(dir.path())); },
               QStringList{"broken.safetensors", "not valid JSON"});
}

QTEST_APPLESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
