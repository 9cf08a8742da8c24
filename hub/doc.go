// Package hub talks to the Hugging Face Hub the way Python's huggingface_hub does: same cache
// layout, same token, same environment variables, same error codes.
//
// Downloads go into the shared Hugging Face cache ($HF_HUB_CACHE, or $HF_HOME/hub, or
// ~/.cache/huggingface/hub):
//
//	models--{org}--{name}/
//	  blobs/{etag}                  file contents (etag: git blob sha1, or the LFS sha256)
//	  blobs/{etag}.incomplete       a download in progress, resumed with a Range request
//	  snapshots/{commit}/{path}     relative symlinks into blobs
//	  refs/{revision}               the commit a branch or tag pointed to
//	  .no_exist/{commit}/{path}     a file known not to exist at that commit
//
// so a tree written by huggingface_hub is reused as is, and ours is reusable by Python.
//
// Environment: HF_ENDPOINT (mirrors), HF_TOKEN (or the token file at HF_TOKEN_PATH or
// $HF_HOME/token), HF_HUB_OFFLINE=1 (cache only), HF_HUB_CACHE/HF_HOME/XDG_CACHE_HOME,
// HF_HUB_DISABLE_PROGRESS_BARS, HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT. Options given
// to NewClient win over the environment.
//
// Protocol references (Apache-2.0 / MIT): huggingface_hub's file_download.py, _commit_api.py,
// lfs.py, utils/_http.py, and huggingface.js's packages/hub. The code here is our own.
package hub
