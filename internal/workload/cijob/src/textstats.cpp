#include "textstats.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <regex>

namespace cijob {

std::vector<std::string> tokenize(const std::string& text) {
    static const std::regex word("[A-Za-z0-9]+");
    std::vector<std::string> out;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), word); it != std::sregex_iterator(); ++it) {
        std::string w = it->str();
        std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        out.push_back(std::move(w));
    }
    return out;
}

std::map<std::string, std::size_t> frequencies(const std::vector<std::string>& words) {
    std::map<std::string, std::size_t> freq;
    for (const auto& w : words) {
        ++freq[w];
    }
    return freq;
}

std::vector<std::pair<std::string, std::size_t>> top(const std::map<std::string, std::size_t>& freq, std::size_t n) {
    std::vector<std::pair<std::string, std::size_t>> v(freq.begin(), freq.end());
    std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (v.size() > n) {
        v.resize(n);
    }
    return v;
}

double mean_length(const std::vector<std::string>& words) {
    if (words.empty()) {
        return 0;
    }
    const std::size_t total = std::accumulate(words.begin(), words.end(), std::size_t{0},
                                              [](std::size_t sum, const std::string& w) { return sum + w.size(); });
    return static_cast<double>(total) / static_cast<double>(words.size());
}

}  // namespace cijob
