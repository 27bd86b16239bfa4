// A small library for isobench's CI job: a bounded FIFO.
#pragma once
#include <cstddef>
#include <optional>
#include <vector>

namespace cijob {

template <typename T>
class RingBuffer {
public:
    explicit RingBuffer(std::size_t capacity) : buf_(capacity) {}

    // Adds v; when full, the oldest element is dropped and false returned.
    bool push(T v) {
        bool kept = true;
        if (size_ == buf_.size()) {
            head_ = (head_ + 1) % buf_.size();
            --size_;
            kept = false;
        }
        buf_[(head_ + size_) % buf_.size()] = std::move(v);
        ++size_;
        return kept;
    }

    std::optional<T> pop() {
        if (size_ == 0) {
            return std::nullopt;
        }
        T v = std::move(buf_[head_]);
        head_ = (head_ + 1) % buf_.size();
        --size_;
        return v;
    }

    std::size_t size() const { return size_; }

private:
    std::vector<T> buf_;
    std::size_t head_ = 0, size_ = 0;
};

}  // namespace cijob
