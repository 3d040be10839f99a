//! The vendored CIFAR-10 slice: what it holds, and that a damaged copy is refused naming the
//! file.

use std::path::{Path, PathBuf};

use dsm_train::data::{CIFAR10_5K, cifar10_5k, cifar10_5k_dir, cifar10_5k_in, load_train_test};

fn class_counts(labels: &[usize]) -> Vec<usize> {
    let mut c = vec![0; 10];
    for &l in labels {
        c[l] += 1;
    }
    c
}

#[test]
fn the_slice_is_the_first_images_of_the_official_files() {
    let d = cifar10_5k().unwrap();
    assert_eq!(
        (d.train.len(), d.test.len(), d.train.shape),
        (4000, 1000, [3, 32, 32])
    );
    assert_eq!(
        class_counts(&d.train.labels),
        [396, 366, 420, 384, 422, 393, 414, 385, 407, 413]
    );
    assert_eq!(
        class_counts(&d.test.labels),
        [103, 89, 100, 103, 90, 86, 112, 102, 106, 109]
    );
    assert_eq!(d.train.labels[..10], [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]);
    assert_eq!(d.test.labels[..10], [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
    // The built-in name everywhere `builtin` works.
    assert_eq!(load_train_test(CIFAR10_5K, 32, 0).unwrap(), d);
}

fn damaged_copy(name: &str, damage: impl Fn(&mut Vec<u8>)) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dsm-c10-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["data_batch_1_first4000.bin", "test_batch_first1000.bin"] {
        let mut bytes = std::fs::read(cifar10_5k_dir().join(f)).unwrap();
        if f.starts_with("test") {
            damage(&mut bytes);
        }
        std::fs::write(dir.join(f), bytes).unwrap();
    }
    dir
}

fn refusal(dir: &Path) -> String {
    let e = cifar10_5k_in(dir).unwrap_err().to_string();
    std::fs::remove_dir_all(dir).unwrap();
    e
}

#[test]
fn damaged_or_missing_files_are_refused_naming_them() {
    let truncated = refusal(&damaged_copy("cut", |b| b.truncate(b.len() - 100)));
    assert!(
        truncated.contains("test_batch_first1000.bin")
            && truncated.contains("3072900 bytes, expected 3073000"),
        "{truncated}"
    );
    let altered = refusal(&damaged_copy("flip", |b| b[5000] ^= 1));
    assert!(
        altered.contains("test_batch_first1000.bin") && altered.contains("the file was altered"),
        "{altered}"
    );
    let empty = std::env::temp_dir().join(format!("dsm-c10-none-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let missing = refusal(&empty);
    assert!(
        missing.contains("data_batch_1_first4000.bin\": is missing")
            && missing.contains("DSM_CIFAR10_5K"),
        "{missing}"
    );
}
