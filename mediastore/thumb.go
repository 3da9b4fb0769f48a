package mediastore

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"
)

// ThumbMax is the longest side of a generated thumbnail.
const ThumbMax = 200

// thumbnail renders a PNG thumbnail: images (PNG, JPEG, GIF) scaled down
// with nearest neighbour to at most ThumbMax per side; anything else (or an
// undecodable image such as SVG) becomes a small grey placeholder.
func thumbnail(src []byte, mime string) []byte {
	if strings.HasPrefix(mime, "image/") {
		if img, _, err := image.Decode(bytes.NewReader(src)); err == nil {
			return encodePNG(scale(img))
		}
	}
	return placeholder()
}

func scale(img image.Image) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return image.NewNRGBA(image.Rect(0, 0, 1, 1))
	}
	nw, nh := w, h
	if w > ThumbMax || h > ThumbMax {
		if w >= h {
			nw, nh = ThumbMax, max(1, h*ThumbMax/w)
		} else {
			nw, nh = max(1, w*ThumbMax/h), ThumbMax
		}
	}
	dst := image.NewNRGBA(image.Rect(0, 0, nw, nh))
	for y := 0; y < nh; y++ {
		sy := b.Min.Y + y*h/nh
		for x := 0; x < nw; x++ {
			sx := b.Min.X + x*w/nw
			dst.Set(x, y, img.At(sx, sy))
		}
	}
	return dst
}

func placeholder() []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.NRGBA{0x99, 0x99, 0x99, 0xff}), image.Point{}, draw.Src)
	return encodePNG(img)
}

func encodePNG(img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil
	}
	return buf.Bytes()
}
