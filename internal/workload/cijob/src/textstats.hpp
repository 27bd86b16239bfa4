// A small library for isobench's CI job: text statistics.
#pragma once
#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace cijob {

// Splits text into lower-case words (letters and digits).
std::vector<std::string> tokenize(const std::string& text);

// Counts each word.
std::map<std::string, std::size_t> frequencies(const std::vector<std::string>& words);

// The n most frequent words, most frequent first, ties alphabetical.
std::vector<std::pair<std::string, std::size_t>> top(const std::map<std::string, std::size_t>& freq, std::size_t n);

// Mean word length; 0 for no words.
double mean_length(const std::vector<std::string>& words);

}  // namespace cijob
