// Unit tests of the CI job's library: a failed check exits non-zero.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "../src/matrix.hpp"
#include "../src/ringbuffer.hpp"
#include "../src/textstats.hpp"

static int failures = 0;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            std::fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                      \
        }                                                                    \
    } while (0)

static void test_textstats() {
    auto words = cijob::tokenize("The quick brown fox. The lazy dog; the END, 42!");
    CHECK(words.size() == 10);
    CHECK(words[0] == "the" && words[8] == "end" && words[9] == "42");
    auto freq = cijob::frequencies(words);
    CHECK(freq["the"] == 3);
    auto best = cijob::top(freq, 2);
    CHECK(best.size() == 2 && best[0].first == "the" && best[0].second == 3);
    CHECK(std::fabs(cijob::mean_length({"ab", "abcd"}) - 3.0) < 1e-12);
    CHECK(cijob::mean_length({}) == 0);
    std::string big;
    for (int i = 0; i < 2000; ++i) {
        big += "word" + std::to_string(i % 97) + " ";
    }
    CHECK(cijob::frequencies(cijob::tokenize(big)).size() == 97);
}

static void test_matrix() {
    cijob::Matrix a(3, 3);
    double v = 1;
    for (std::size_t i = 0; i < 3; ++i) {
        for (std::size_t j = 0; j < 3; ++j) {
            a.at(i, j) = v * v + static_cast<double>(i);
            v += 1;
        }
    }
    CHECK(std::fabs((a * cijob::Matrix::identity(3)).at(2, 1) - a.at(2, 1)) < 1e-12);
    CHECK(a.transpose().at(0, 2) == a.at(2, 0));
    CHECK(std::fabs(cijob::Matrix::identity(5).determinant() - 1) < 1e-12);
    cijob::Matrix s(2, 2);
    s.at(0, 0) = 4; s.at(0, 1) = 3; s.at(1, 0) = 6; s.at(1, 1) = 3;
    CHECK(std::fabs(s.determinant() + 6) < 1e-9);
    bool threw = false;
    try {
        (void)(cijob::Matrix(2, 3) * cijob::Matrix(2, 3));
    } catch (const std::invalid_argument&) {
        threw = true;
    }
    CHECK(threw);
    cijob::Matrix big(60, 60, 0.5);
    for (std::size_t i = 0; i < 60; ++i) {
        big.at(i, i) = 60;
    }
    CHECK(big.determinant() > 0);
}

static void test_ringbuffer() {
    cijob::RingBuffer<std::string> rb(3);
    CHECK(rb.push("a") && rb.push("b") && rb.push("c"));
    CHECK(!rb.push("d"));
    CHECK(rb.size() == 3);
    CHECK(*rb.pop() == "b");
    CHECK(*rb.pop() == "c");
    CHECK(*rb.pop() == "d");
    CHECK(!rb.pop().has_value());
}

int main() {
    test_textstats();
    test_matrix();
    test_ringbuffer();
    if (failures > 0) {
        std::fprintf(stderr, "%d checks failed\n", failures);
        return EXIT_FAILURE;
    }
    std::puts("all tests passed");
    return EXIT_SUCCESS;
}
