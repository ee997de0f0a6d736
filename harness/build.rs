//! Stamps the harness with the commit it was built from (run.json's `meta.git_commit`).
//! Outside a git checkout (a source tarball) or without git, the commit is `unknown`.

fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=HWCONFORM_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves (a commit rewrites the branch ref and the index); a worktree
    // keeps them elsewhere, so ask git where.
    for name in ["HEAD", "index"] {
        let path = std::process::Command::new("git")
            .args(["rev-parse", "--git-path", name])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok());
        if let Some(path) = path
            .map(|p| p.trim().to_string())
            .filter(|p| std::path::Path::new(p).exists())
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
