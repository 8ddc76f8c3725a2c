//go:build !nocloud

package main

// The cloud drivers (s3://, gs://, azblob://). Built with -tags nocloud,
// backupctl knows file:// only and is half the size: the drivers' SDKs
// add about 47 MB to the binary and 15–20 MB to every run's resident
// memory (their packages' initialization and code pages), which is the
// cost a host embedding steward with only the store it uses does not pay.
import _ "github.com/iluxsys/steward/storage/cloud"
