fn exercise() {
    use semver::{BuildMetadata, Prerelease, Version, VersionReq};
    let version = Version::parse("1.2.3-alpha.1+build.5").unwrap();
    assert_eq!(version.to_string(), "1.2.3-alpha.1+build.5");
    assert!(Version::parse("1.2").is_err());
    assert!(Version::parse("01.2.3").is_err());
    let req = VersionReq::parse(">=1.2.0, <2.0.0-0").unwrap();
    assert!(req.matches(&Version::new(1, 5, 0)));
    assert!(!req.matches(&version));
    assert!(VersionReq::parse("^1.2.3-alpha").unwrap().matches(&version));
    assert!(VersionReq::parse("~ 1").is_ok());
    assert!(VersionReq::parse("1.*.3").is_err());
    assert!(Prerelease::new("alpha.1").unwrap() < Prerelease::new("alpha.2").unwrap());
    assert!(BuildMetadata::new("build.5").is_ok());
    let mut versions = vec![Version::new(2, 0, 0), version.clone(), Version::new(1, 2, 3)];
    versions.sort();
    assert_eq!(versions[0], version);
}
