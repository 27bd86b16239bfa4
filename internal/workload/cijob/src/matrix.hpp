// A small library for isobench's CI job: dense matrices.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <vector>

namespace cijob {

class Matrix {
public:
    Matrix(std::size_t rows, std::size_t cols, double fill = 0);
    static Matrix identity(std::size_t n);

    std::size_t rows() const { return rows_; }
    std::size_t cols() const { return cols_; }
    double& at(std::size_t r, std::size_t c);
    double at(std::size_t r, std::size_t c) const;

    Matrix operator*(const Matrix& o) const;
    Matrix transpose() const;
    // Determinant by Gaussian elimination with partial pivoting.
    double determinant() const;

private:
    std::size_t rows_, cols_;
    std::vector<double> data_;
};

}  // namespace cijob
