// Tests for src/reduce/hierarchy.{h,cpp}: average linkage on small point sets, checked by hand and
// against scipy (/usr/bin/python3 with python3-scipy) for validity and equality.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "common/error.h"
#include "common/rng.h"
#include "helpers.h"
#include "reduce/hierarchy.h"

namespace genzoo {
namespace {

std::string python_list(const std::vector<double>& values) {
  std::ostringstream out;
  out.precision(17);
  out << "[";
  for (size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
  return out.str() + "]";
}

TEST(Hierarchy, FourPointsOnALineMergeAsExpected) {
  // 0, 1, 5, 7: {0,1} at 1, {2,3} at 2, then the two pairs at the mean cross distance (5+7+4+6)/4 = 5.5.
  const std::vector<double> points = {0, 1, 5, 7};
  const Dendrogram d = average_linkage(euclidean_distances(points, 4, 1), 4);
  ASSERT_EQ(d.linkage.size(), 12u);
  const std::vector<double> expected = {0, 1, 1, 2, 2, 3, 2, 2, 4, 5, 5.5, 4};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_DOUBLE_EQ(d.linkage[i], expected[i]) << i;
  EXPECT_EQ(d.members[0], (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(d.members[1], (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(d.members[2], (std::vector<int64_t>{0, 1, 2, 3}));
  // Cophenetic distances in pdist order (0,1) (0,2) (0,3) (1,2) (1,3) (2,3).
  EXPECT_EQ(cophenetic_distances(d), (std::vector<double>{1, 5.5, 5.5, 5.5, 5.5, 2}));
  EXPECT_DOUBLE_EQ(cophenetic_correlation(d, d), 1.0);
}

TEST(Hierarchy, LinkageIsValidMonotoneAndEqualToScipys) {
  Rng rng(4);
  const int64_t n = 30, dim = 3;
  std::vector<double> points;
  for (int64_t i = 0; i < n * dim; ++i) points.push_back(rng.normal());
  const Dendrogram d = average_linkage(euclidean_distances(points, n, dim), n);
  for (int64_t row = 0; row + 1 < n; ++row) {
    if (row > 0) {
      EXPECT_GE(d.linkage[row * 4 + 2], d.linkage[(row - 1) * 4 + 2]) << row;
    }
    EXPECT_LT(d.linkage[row * 4], d.linkage[row * 4 + 1]);
    EXPECT_EQ(static_cast<size_t>(d.linkage[row * 4 + 3]), d.members[row].size());
  }
  EXPECT_EQ(d.members.back().size(), static_cast<size_t>(n));

  // scipy accepts it as a linkage, draws it, and computes the same one from the same points.
  const std::string script =
      "import numpy as np\n"
      "from scipy.cluster import hierarchy\n"
      "Z = np.array(" + python_list(d.linkage) + ").reshape(-1, 4)\n"
      "X = np.array(" + python_list(points) + ").reshape(-1, 3)\n"
      "assert hierarchy.is_valid_linkage(Z, throw=True)\n"
      "assert hierarchy.is_monotonic(Z)\n"
      "leaves = hierarchy.dendrogram(Z, no_plot=True)['leaves']\n"
      "assert sorted(leaves) == list(range(30)), leaves\n"
      "R = hierarchy.linkage(X, method='average')\n"
      "assert np.allclose(R, Z, atol=1e-9), (R, Z)\n"
      "c, coph = hierarchy.cophenet(Z, __import__('scipy.spatial.distance', fromlist=['pdist']).pdist(X))\n"
      "print('ok', repr(c))\n";
  test::TempDir dir;
  test::write_text(dir.file("check.py"), script);
  const test::CommandResult result = test::run_command("/usr/bin/python3 " + test::shell_quote(dir.file("check.py")));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output.rfind("ok ", 0), 0u) << result.output;
}

TEST(Hierarchy, CopheneticCorrelationDropsForAnUnrelatedTree) {
  Rng rng(8);
  const int64_t n = 25;
  std::vector<double> a, b;
  for (int64_t i = 0; i < n * 2; ++i) {
    a.push_back(rng.normal());
    b.push_back(rng.normal());
  }
  const Dendrogram da = average_linkage(euclidean_distances(a, n, 2), n);
  std::vector<double> a_scaled = a;
  for (double& v : a_scaled) v *= 3.0;  // the same tree at another scale
  EXPECT_NEAR(cophenetic_correlation(da, average_linkage(euclidean_distances(a_scaled, n, 2), n)), 1.0, 1e-12);
  EXPECT_LT(cophenetic_correlation(da, average_linkage(euclidean_distances(b, n, 2), n)), 0.6);
}

TEST(Hierarchy, BadInputIsAClearError) {
  EXPECT_THROW(average_linkage({0.0}, 1), ReduceError);
  EXPECT_THROW(average_linkage({0.0, 1.0, 1.0}, 2), ReduceError);
  EXPECT_TRUE(std::isnan(pearson_correlation({1, 1, 1}, {1, 2, 3})));
}

}  // namespace
}  // namespace genzoo
