fn main() {
    std::process::exit(hwconform::cli::main());
}
