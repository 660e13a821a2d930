// The feature net on the real data (DESIGN.md section 2): the default recipe must reach test
// accuracy >= 0.88, and class selection must be deterministic. Trains for ~1 minute on 2 cores.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/dataset.h"
#include "data/feature_net.h"
#include "dist/resources.h"
#include "job/job.h"

namespace genzoo::test {
namespace {

TEST(FeatureNetFashionMnist, DefaultRecipeReachesAccuracyAndSelectsDistantClasses) {
  const std::string dir = resolve_data_dir("");
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no Fashion-MNIST at " << dir;
  set_threads(owned_cores());
  const Dataset dataset = load_fashion_mnist(dir);
  const FeatureNetConfig config;  // the defaults the shipped jobs use
  const FeatureNetRecord net = train_feature_net(dataset, config, /*seed=*/123, /*num_select=*/3);

  EXPECT_GE(net.test_accuracy, 0.88);
  ASSERT_EQ(net.selected_classes.size(), 3u);
  ASSERT_EQ(net.centroid_distances.size(), 100u);
  // The selection is the exhaustive optimum of the stored distances, so it is reproducible from the file.
  EXPECT_EQ(select_distant_classes(net.centroid_distances, 10, 3), net.selected_classes);
  double selected_min = 1e300;
  for (int i = 0; i < 3; ++i)
    for (int j = i + 1; j < 3; ++j)
      selected_min = std::min(selected_min, net.centroid_distances[net.selected_classes[i] * 10 + net.selected_classes[j]]);
  // No other triple of classes is farther apart (spot check: every triple containing class 0..9 pairs).
  for (int a = 0; a < 10; ++a)
    for (int b = a + 1; b < 10; ++b)
      for (int c = b + 1; c < 10; ++c) {
        const double m = std::min({net.centroid_distances[a * 10 + b], net.centroid_distances[a * 10 + c],
                                   net.centroid_distances[b * 10 + c]});
        EXPECT_LE(m, selected_min + 1e-12);
      }
}

}  // namespace
}  // namespace genzoo::test
