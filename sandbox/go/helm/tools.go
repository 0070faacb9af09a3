//go:build tools

// Package tools pins the Helm client this sandbox builds.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
