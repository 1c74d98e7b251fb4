package main

import "rsc.io/qr"

// qrModules encodes text as a QR code with rsc.io/qr for the token page's
// MFA enrolment (tokenpage.Options.QRCode): rows of columns, true for a
// dark module. The page draws them; the library does the encoding.
func qrModules(text string) ([][]bool, error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return nil, err
	}
	out := make([][]bool, c.Size)
	for y := range out {
		out[y] = make([]bool, c.Size)
		for x := range out[y] {
			out[y][x] = c.Black(x, y)
		}
	}
	return out, nil
}
