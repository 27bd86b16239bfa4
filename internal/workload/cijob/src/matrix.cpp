#include "matrix.hpp"

#include <cmath>
#include <utility>

namespace cijob {

Matrix::Matrix(std::size_t rows, std::size_t cols, double fill) : rows_(rows), cols_(cols), data_(rows * cols, fill) {}

Matrix Matrix::identity(std::size_t n) {
    Matrix m(n, n);
    for (std::size_t i = 0; i < n; ++i) {
        m.at(i, i) = 1;
    }
    return m;
}

double& Matrix::at(std::size_t r, std::size_t c) {
    if (r >= rows_ || c >= cols_) {
        throw std::out_of_range("matrix index");
    }
    return data_[r * cols_ + c];
}

double Matrix::at(std::size_t r, std::size_t c) const {
    if (r >= rows_ || c >= cols_) {
        throw std::out_of_range("matrix index");
    }
    return data_[r * cols_ + c];
}

Matrix Matrix::operator*(const Matrix& o) const {
    if (cols_ != o.rows_) {
        throw std::invalid_argument("matrix shapes do not match");
    }
    Matrix out(rows_, o.cols_);
    for (std::size_t i = 0; i < rows_; ++i) {
        for (std::size_t k = 0; k < cols_; ++k) {
            const double a = at(i, k);
            for (std::size_t j = 0; j < o.cols_; ++j) {
                out.at(i, j) += a * o.at(k, j);
            }
        }
    }
    return out;
}

Matrix Matrix::transpose() const {
    Matrix out(cols_, rows_);
    for (std::size_t i = 0; i < rows_; ++i) {
        for (std::size_t j = 0; j < cols_; ++j) {
            out.at(j, i) = at(i, j);
        }
    }
    return out;
}

double Matrix::determinant() const {
    if (rows_ != cols_) {
        throw std::invalid_argument("determinant of a non-square matrix");
    }
    Matrix m = *this;
    double det = 1;
    for (std::size_t col = 0; col < cols_; ++col) {
        std::size_t pivot = col;
        for (std::size_t r = col + 1; r < rows_; ++r) {
            if (std::fabs(m.at(r, col)) > std::fabs(m.at(pivot, col))) {
                pivot = r;
            }
        }
        if (m.at(pivot, col) == 0) {
            return 0;
        }
        if (pivot != col) {
            for (std::size_t j = 0; j < cols_; ++j) {
                std::swap(m.at(pivot, j), m.at(col, j));
            }
            det = -det;
        }
        det *= m.at(col, col);
        for (std::size_t r = col + 1; r < rows_; ++r) {
            const double f = m.at(r, col) / m.at(col, col);
            for (std::size_t j = col; j < cols_; ++j) {
                m.at(r, j) -= f * m.at(col, j);
            }
        }
    }
    return det;
}

}  // namespace cijob
