package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ggufy/ggufy/hub"
	"github.com/ggufy/ggufy/pipeline"
	"github.com/urfave/cli/v2"
)

// newHubClient returns a Hub client configured from the environment, like huggingface_hub.
func newHubClient(quiet bool) (*hub.Client, error) {
	opts := []hub.Option{}
	if w := progressOut(quiet); w == nil {
		opts = append(opts, hub.WithProgress(nil))
	}
	return hub.NewClient(opts...)
}

// sourceDir returns a local checkpoint directory for SRC: SRC itself if it is a directory,
// else the Hub repo SRC ("org/name[@rev]") downloaded into the Hugging Face cache. repoID is
// the Hub repo ("" for a local directory).
func sourceDir(cctx *cli.Context, src string) (dir, repoID string, err error) {
	if st, err := os.Stat(src); err == nil && st.IsDir() {
		return src, "", nil
	}
	ref, err := hub.ParseRepoRef(src)
	if err != nil {
		return "", "", usageError("%s is neither a directory nor a Hub repo (org/name[@revision]): %v", src, err)
	}
	c, err := newHubClient(cctx.Bool("quiet"))
	if err != nil {
		return "", "", err
	}
	dir, err = c.Download(cctx.Context, ref.ID, ref.Revision, hub.DownloadOptions{})
	return dir, ref.ID, err
}

func downloadCommand() *cli.Command {
	return &cli.Command{
		Name:      "download",
		Usage:     "download a Hub repo into the Hugging Face cache (what conversion needs, by default) and print the snapshot folder",
		ArgsUsage: "REPO[@REV]",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "include", Usage: "only files matching this pattern (fnmatch, like huggingface-cli)"},
			&cli.StringSliceFlag{Name: "exclude", Usage: "skip files matching this pattern"},
			&cli.BoolFlag{Name: "all", Usage: "every file of the revision, not only what conversion needs"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bars"},
		},
		Action: func(cctx *cli.Context) error {
			if cctx.NArg() != 1 {
				return usageError("download needs one REPO[@REV]")
			}
			ref, err := hub.ParseRepoRef(cctx.Args().First())
			if err != nil {
				return usageError("%v", err)
			}
			c, err := newHubClient(cctx.Bool("quiet"))
			if err != nil {
				return err
			}
			dir, err := c.Download(cctx.Context, ref.ID, ref.Revision, hub.DownloadOptions{
				Include: cctx.StringSlice("include"), Exclude: cctx.StringSlice("exclude"), All: cctx.Bool("all")})
			if err != nil {
				return err
			}
			fmt.Fprintln(cctx.App.Writer, dir)
			return nil
		},
	}
}

func publishCommand() *cli.Command {
	return &cli.Command{
		Name:      "publish",
		Usage:     "upload the GGUF files of DIR (and its report) to a Hub repo in one commit, with a generated model card",
		ArgsUsage: "DIR REPO",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "private", Usage: "create the repo private"},
			&cli.StringFlag{Name: "revision", Usage: "branch to commit to (default main)"},
			&cli.StringFlag{Name: "base-model", Usage: "the source repo, for the model card (default: from report.json)"},
			&cli.StringFlag{Name: "license", Usage: "license id for the model card"},
			&cli.StringFlag{Name: "quantized-by", Usage: "who made the files"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bars"},
		},
		Action: func(cctx *cli.Context) error {
			if cctx.NArg() != 2 {
				return usageError("publish needs DIR REPO")
			}
			dir, repo := cctx.Args().Get(0), cctx.Args().Get(1)
			c, err := newHubClient(cctx.Bool("quiet"))
			if err != nil {
				return err
			}
			card := hub.Card{Repo: repo, QuantizedBy: cctx.String("quantized-by"), Tool: pipeline.Version,
				BaseModel: cctx.String("base-model"), License: cctx.String("license")}
			include := []string{"*.gguf"}
			if rep, err := pipeline.ReadReport(filepath.Join(dir, "report.json")); err == nil {
				card.Title = rep.Model + " GGUF"
				if card.BaseModel == "" && !strings.HasPrefix(rep.Source, "/") && !strings.HasPrefix(rep.Source, ".") {
					card.BaseModel = rep.Source
				}
				for _, v := range rep.Variants {
					cv := hub.Variant{File: v.Files[0], Quant: v.Quant, Size: v.Size, BitsPerWeight: v.BitsPerWeight}
					if q := v.Quality; q != nil {
						cv.Quality = &hub.Quality{Perplexity: q.PPL, BasePerplexity: q.PPLBase, MeanKLD: q.KLDMean}
					}
					card.Variants = append(card.Variants, cv)
				}
				include = append(include, "report.md", "report.json", "report.png")
			}
			ci, err := c.Publish(cctx.Context, hub.PublishOptions{Dir: dir, Repo: repo, Private: cctx.Bool("private"),
				Revision: cctx.String("revision"), Include: include, Card: &card})
			if err != nil {
				return err
			}
			if ci.NoChanges {
				fmt.Fprintf(cctx.App.Writer, "%s: already up to date (%d files unchanged)\n", repo, len(ci.Unchanged))
			} else {
				fmt.Fprintf(cctx.App.Writer, "%s: %s (%d files uploaded, %d unchanged)\n", repo, ci.URL, len(ci.Uploaded), len(ci.Unchanged))
			}
			return nil
		},
	}
}
