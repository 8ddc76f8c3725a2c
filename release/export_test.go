package release

// ArtifactHash is how a release hashes its artifact's module checksums;
// the forging tests compute it as an attacker can.
var ArtifactHash = artifactHash
