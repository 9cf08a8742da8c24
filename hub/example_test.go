package hub_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ggufy/ggufy/hub"
	"github.com/ggufy/ggufy/hub/hubtest"
)

// A command taking SRC as "org/name@rev" downloads what conversion needs and gets a folder.
func ExampleClient_Download() {
	fake := hubtest.NewServer() // in real use: no WithEndpoint, the environment decides
	defer fake.Close()
	fake.CreateRepo("acme/tiny", hubtest.RepoOptions{}).Commit("main", "weights", map[string][]byte{
		"config.json": []byte(`{}`), "model.safetensors": []byte("..."), "README.md": []byte("# tiny"),
	})
	cache, _ := os.MkdirTemp("", "hub")
	defer os.RemoveAll(cache)

	ref, _ := hub.ParseRepoRef("acme/tiny@main")
	c, _ := hub.NewClient(hub.WithEndpoint(fake.URL), hub.WithCacheDir(cache), hub.WithToken(""), hub.WithProgress(nil))
	dir, err := c.Download(context.Background(), ref.ID, ref.Revision, hub.DownloadOptions{})
	if errors.Is(err, hub.ErrGated) {
		fmt.Println(err) // says where to request access
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		fmt.Println(e.Name())
	}
	// Output:
	// config.json
	// model.safetensors
}

// Publishing a folder of GGUF files with a generated model card.
func ExampleClient_Publish() {
	fake := hubtest.NewServer()
	defer fake.Close()
	fake.AddUser("me", "hf_me")
	dir, _ := os.MkdirTemp("", "gguf")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "Tiny-Q4_K_M.gguf"), []byte("GGUF..."), 0o644)

	c, _ := hub.NewClient(hub.WithEndpoint(fake.URL), hub.WithToken("hf_me"), hub.WithProgress(nil))
	card := hub.Card{BaseModel: "acme/tiny", License: "apache-2.0", QuantizedBy: "me",
		Variants: []hub.Variant{{File: "Tiny-Q4_K_M.gguf", Quant: "Q4_K_M", Size: 7, BitsPerWeight: 4.89}}}
	info, err := c.Publish(context.Background(), hub.PublishOptions{Dir: dir, Repo: "me/Tiny-GGUF", Card: &card})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info.Created, info.Uploaded)
	again, _ := c.Publish(context.Background(), hub.PublishOptions{Dir: dir, Repo: "me/Tiny-GGUF", Card: &card})
	fmt.Println(again.NoChanges)
	// Output:
	// true [README.md Tiny-Q4_K_M.gguf]
	// true
}
