// Package cloud registers gocloud.dev's S3, Google Cloud Storage and Azure
// Blob drivers so that storage.Open accepts s3://, gs:// and azblob:// URLs.
//
// The storage package itself imports only the file and memory drivers, so a
// host that does not want the cloud SDKs in its binary does not get them.
// Import this package for its side effect:
//
//	import _ "github.com/iluxsys/steward/storage/cloud"
package cloud

import (
	_ "gocloud.dev/blob/azureblob" // azblob://
	_ "gocloud.dev/blob/gcsblob"   // gs://
	_ "gocloud.dev/blob/s3blob"    // s3://
)
