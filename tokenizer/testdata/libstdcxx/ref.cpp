// Reference outputs of libstdc++ for tokenizer/libstdcxx_test.go.
// Build: g++ -O2 -std=c++17 -o ref ref.cpp
//   ./ref hash < keys.txt   one std::hash<std::string> per input line (hex)
//   ./ref umap < keys.txt   iteration order of unordered_map<string,int> filled with operator[]
//                           in line order, as the 0-based line index of each key
//   ./ref sort < lens.txt   indices 0..n-1 sorted with std::sort by descending length value, as
//                           llama.cpp sorts its special-token cache
//   ./ref psort < lens.txt  the same with std::partial_sort(first, last, last), introsort's
//                           heapsort fallback
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <unordered_map>
#include <vector>

int main(int argc, char ** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    std::vector<std::string> lines;
    for (std::string l; std::getline(std::cin, l);) lines.push_back(l);
    if (mode == "hash") {
        for (auto & l : lines) printf("%016zx\n", std::hash<std::string>{}(l));
    } else if (mode == "umap") {
        std::unordered_map<std::string, int> m;
        for (size_t i = 0; i < lines.size(); i++) m[lines[i]] = (int) i;
        for (auto & kv : m) printf("%d\n", kv.second);
    } else if (mode == "sort") {
        std::vector<long> len;
        for (auto & l : lines) len.push_back(std::stol(l));
        std::vector<int> idx(len.size());
        for (size_t i = 0; i < idx.size(); i++) idx[i] = (int) i;
        std::sort(idx.begin(), idx.end(), [&](int a, int b) { return len[a] > len[b]; });
        for (int i : idx) printf("%d\n", i);
    } else if (mode == "psort") {
        std::vector<long> len;
        for (auto & l : lines) len.push_back(std::stol(l));
        std::vector<int> idx(len.size());
        for (size_t i = 0; i < idx.size(); i++) idx[i] = (int) i;
        std::partial_sort(idx.begin(), idx.end(), idx.end(), [&](int a, int b) { return len[a] > len[b]; });
        for (int i : idx) printf("%d\n", i);
    } else {
        return 2;
    }
    return 0;
}
